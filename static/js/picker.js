/* Registry: the person picker (templates/_picker.html; issue 8). Plain ES2017, no inline JS (CSP).
   Delegated from document, so it also works in fragments swapped in by htmx (the guard's room panel).
     <span class="picker" data-picker="/people/lookup?scope=active" data-picker-empty="No one matches.">
       <input type="search" role="combobox" aria-controls="ID-options">  what is typed (posted as <name>_q)
       <input type="hidden" name="<name>" data-picker-id>               the chosen person's id
       <ul role="listbox" id="ID-options" hidden></ul>                  the suggestions
   Typing asks the lookup URL (&q=...) for at most 20 matches; ArrowDown/ArrowUp move through them,
   Enter or a tap chooses one, Escape closes the list. Typing again clears the chosen id. Without this
   script (or before a choice) the server resolves the typed employee number.
   A multi picker (data-picker-multi, templates/_picker.html people_multi_picker) adds a ticked box per choice. */
(function () {
  'use strict';
  var doc = document;
  var DELAY_MS = 150;

  function picker(el) {
    var box = el && el.closest ? el.closest('[data-picker]') : null;
    if (!box) return null;
    return { box: box, input: box.querySelector('input[role=combobox]'), id: box.querySelector('[data-picker-id]'),
             list: box.querySelector('[role=listbox]') };
  }

  function fromInput(el) {
    return el && el.matches && el.matches('[data-picker] input[role=combobox]') ? picker(el) : null;
  }

  function options(p) { return p.list.querySelectorAll('[role=option]'); }

  function activeIndex(p) {
    var opts = options(p);
    for (var i = 0; i < opts.length; i++) if (opts[i].getAttribute('aria-selected') === 'true') return i;
    return -1;
  }

  function setActive(p, index) {
    var opts = options(p);
    if (!opts.length) return;
    index = (index + opts.length) % opts.length;
    Array.prototype.forEach.call(opts, function (o, i) { o.setAttribute('aria-selected', i === index ? 'true' : 'false'); });
    p.input.setAttribute('aria-activedescendant', opts[index].id);
    if (opts[index].scrollIntoView) opts[index].scrollIntoView({ block: 'nearest' });
  }

  function close(p) {
    p.box.pickerSeq = (p.box.pickerSeq || 0) + 1;   // a late answer must not reopen the list
    window.clearTimeout(p.box.pickerTimer);
    p.list.hidden = true;
    p.list.textContent = '';
    p.input.setAttribute('aria-expanded', 'false');
    p.input.removeAttribute('aria-activedescendant');
  }

  function render(p, items) {
    p.list.textContent = '';
    p.input.removeAttribute('aria-activedescendant');
    if (!items.length) {
      var none = doc.createElement('li');
      none.className = 'picker-none';
      none.textContent = p.box.getAttribute('data-picker-empty') || '—';
      p.list.appendChild(none);
    }
    items.forEach(function (item, i) {
      var li = doc.createElement('li');
      li.id = p.list.id + '-' + i;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      li.setAttribute('data-id', String(item.id));
      li.setAttribute('data-label', item.label);
      li.textContent = item.label;
      p.list.appendChild(li);
    });
    p.list.hidden = false;
    p.input.setAttribute('aria-expanded', 'true');
  }

  function lookup(p) {
    var q = p.input.value.trim();
    if (!q) { close(p); return; }
    var seq = p.box.pickerSeq = (p.box.pickerSeq || 0) + 1;
    var url = p.box.getAttribute('data-picker');
    url += (url.indexOf('?') < 0 ? '?' : '&') + 'q=' + encodeURIComponent(q);
    fetch(url, { credentials: 'same-origin', mode: 'same-origin', cache: 'no-store',
                 headers: { 'Accept': 'application/json', 'X-Requested-With': 'fetch' } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        if (data && seq === p.box.pickerSeq && doc.activeElement === p.input) render(p, data.items || []);
      })
      .catch(function (err) { if (window.console) console.warn('person lookup failed', err); });
  }

  // A multi picker (data-picker-multi="<name>"): each choice becomes a ticked box in the chosen list
  // (untick to remove, as without JavaScript) and the search box empties for the next one.
  function addChosen(p, opt) {
    var name = p.box.getAttribute('data-picker-multi');
    var id = opt.getAttribute('data-id');
    var chosen = p.box.querySelector('[data-picker-chosen]');
    var boxes = chosen.querySelectorAll('input[type=checkbox]');
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === id) { boxes[i].checked = true; return; }
    }
    var label = doc.createElement('label');
    label.className = 'picker-chip';
    var box = doc.createElement('input');
    box.type = 'checkbox';
    box.name = name;
    box.value = id;
    box.checked = true;
    label.appendChild(box);
    label.appendChild(doc.createTextNode(' ' + opt.getAttribute('data-label')));
    chosen.appendChild(label);
  }

  function choose(p, opt) {
    if (p.box.hasAttribute('data-picker-multi')) {
      addChosen(p, opt);
      p.input.value = '';
      close(p);
      p.input.focus();
      return;
    }
    p.input.value = opt.getAttribute('data-label');
    p.id.value = opt.getAttribute('data-id');
    close(p);
    var form = p.input.form;
    if (form && (p.box.hasAttribute('data-picker-autosubmit') || form.hasAttribute('data-autosubmit'))) {
      if (typeof form.requestSubmit === 'function') form.requestSubmit(); else form.submit();
    }
  }

  doc.addEventListener('input', function (e) {
    var p = fromInput(e.target);
    if (!p || e.isComposing) return;                 // wait for the composed characters (compositionend)
    if (p.id) p.id.value = '';                                 // typed again: the earlier choice no longer holds
    window.clearTimeout(p.box.pickerTimer);
    p.box.pickerTimer = window.setTimeout(function () { lookup(p); }, DELAY_MS);
  });

  doc.addEventListener('keydown', function (e) {
    var p = fromInput(e.target);
    if (!p || e.isComposing || e.keyCode === 229) return;   // keys that confirm an IME (pinyin) candidate
    var open = !p.list.hidden;
    if (e.key === 'ArrowDown' || e.key === 'Down') {
      e.preventDefault();
      if (open) setActive(p, activeIndex(p) + 1); else lookup(p);
    } else if (e.key === 'ArrowUp' || e.key === 'Up') {
      if (open) { e.preventDefault(); setActive(p, activeIndex(p) < 0 ? -1 : activeIndex(p) - 1); }
    } else if (e.key === 'Enter') {
      var opts = options(p);
      var i = activeIndex(p);
      if (open && i < 0 && opts.length === 1) i = 0;
      if (open && i >= 0) { e.preventDefault(); choose(p, opts[i]); }
    } else if (e.key === 'Escape' || e.key === 'Esc') {
      if (open) { e.preventDefault(); close(p); }
    }
  });

  doc.addEventListener('compositionend', function (e) {
    var p = fromInput(e.target);
    if (!p) return;
    if (p.id) p.id.value = '';
    window.clearTimeout(p.box.pickerTimer);
    p.box.pickerTimer = window.setTimeout(function () { lookup(p); }, DELAY_MS);
  });

  // mousedown (not click): choose before the input loses focus; touch taps end in mousedown too
  doc.addEventListener('mousedown', function (e) {
    var opt = e.target.closest && e.target.closest('[data-picker] [role=option]');
    if (!opt) return;
    e.preventDefault();
    choose(picker(opt), opt);
  });

  doc.addEventListener('focusout', function (e) {
    var p = fromInput(e.target);
    if (p && !(e.relatedTarget && p.box.contains(e.relatedTarget))) close(p);
  });
})();
