"""Custody: asset registers (media, computers, removable storage, equipment), QR labels,
scanning, checkout and checkin under the secrecy rules of SPEC §4, copies and inspections."""
