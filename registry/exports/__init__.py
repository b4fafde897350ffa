"""Excel registers: exports of every register, the inspection pack, export jobs and imports.

Modules: `columns` (Column/Register declarations, bilingual vocabularies, the marking rule),
`registers` (the 17 registers of SPEC §6, each declared once), `safety` (formula-injection
safety of every cell; refusal of hostile uploads), `builders` (pure workbook builders),
`jobs` (one export: snapshot → file → SHA-256 → audit event; background jobs), `imports`,
`views` (Registers page), `api`, `cli` (`flask export`, `flask import`).

Decisions, for inspectors and for whoever changes this package:

* **Marking.** Each sheet is marked with the highest level among the rows it holds (levels of
  the items, rooms, provisions or destroyed items the rows are about), never lower than Internal:
  绝密★ / 机密★ / 秘密★ for state secrets (★ only there, DOMAIN R1), otherwise 内部; in English
  TOP SECRET / SECRET / CONFIDENTIAL / INTERNAL. Registers without a level of their own (people,
  visitors, security events, audit, projects, inventories) are marked 内部. The marking is
  printed in the title block, in the centre of the page header and at the left of the footer;
  the pack's cover carries the highest marking of all its sheets. It is computed before writing
  (a DISTINCT query in the export's snapshot) and re-checked while streaming.
* **Title block** (rows 1–6, above the header row): unit name (settings), register, period
  (and the date it applies to), exported at (unit time zone) and by whom (user and role), the
  audit checkpoint `SEQ:HASH` of the chain head when the file was written (the export's own
  audit event follows it and records the file's SHA-256), the marking.
* **Period** `from`/`to`: inclusive dates in the unit's time zone, applied to the register's date
  (registration date for holdings registers, out-at for checkouts, entered-at for visits, valid-from
  for permissions, time for events and audit, destroyed-on, started-at) — listed on the page.
* **Language** (`lang=zh_CN|en`): headers, titles and enum labels come from the declarations,
  not from the UI locale. Times are written as real date cells in the unit's time zone.
* **Personal data**: visitor document numbers go through the visits domain's `mask_id_doc`
  (full only for officer and admin; masked in inspector and CLI exports).
* **Label codes and hashes of secrets are never exported** (label codes are identifiers of QR
  labels; the audit trail's own chain hashes are exported, they are what an inspector verifies).
"""
