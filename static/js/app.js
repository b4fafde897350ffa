/* Registry: small progressive enhancements. Plain ES2017, no modules, no inline JS (CSP script-src 'self').
   Everything is delegated from document, so it also works for content swapped in by htmx.
   Hooks:
     <form data-confirm="Really destroy?">            confirm() before submit (also on a submit button)
     <select data-autosubmit> / <form data-autosubmit> submit the form when a select/input changes
     <button type="button" data-print>                 window.print()
     <form data-once>                                  disable its submit buttons after submit
     <input data-autofocus>                            focus on load and after every htmx swap
     <meta name="csrf-token" content="...">            sent as X-CSRFToken on every htmx request
     <div data-refresh-url="/x/partial" data-refresh-seconds="15">  poll + replace innerHTML when
                                                       htmx is NOT loaded (the URL returns a fragment) */
(function () {
  'use strict';
  var doc = document;

  function submitForm(form) {
    if (typeof form.requestSubmit === 'function') form.requestSubmit(); // fires submit event (confirm/once/htmx)
    else form.submit();
  }

  function submitButtons(form) {
    return Array.prototype.slice.call(form.querySelectorAll('button:not([type=button]):not([type=reset]), input[type=submit]'))
      .concat(form.id ? Array.prototype.slice.call(doc.querySelectorAll('[form="' + form.id + '"][type=submit]')) : []);
  }

  // (a) confirmation, capture phase so a refusal also stops htmx's own submit handler
  doc.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('button[data-confirm], input[type=submit][data-confirm], a[data-confirm]');
    if (btn && !window.confirm(btn.getAttribute('data-confirm'))) {
      e.preventDefault(); e.stopImmediatePropagation();
    } else if (btn && btn.form && btn.form.hasAttribute('data-confirm')) {
      var f = btn.form;                               // do not ask twice for this very submit
      f.setAttribute('data-confirmed', '1');
      window.setTimeout(function () { f.removeAttribute('data-confirmed'); }, 0);
    }
  }, true);
  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute('data-confirm')) return;
    if (form.getAttribute('data-confirmed') === '1') return;
    if (!window.confirm(form.getAttribute('data-confirm'))) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);

  // (d) prevent double submit (bubble phase: runs only if nothing cancelled it above)
  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute('data-once')) return;
    var buttons = submitButtons(form);
    window.setTimeout(function () {            // after the submitter's name/value was captured
      buttons.forEach(function (b) { b.disabled = true; b.setAttribute('aria-busy', 'true'); });
    }, 0);
  });
  function reenable(root) {
    if (!root || !root.querySelectorAll) return;
    var forms = root.matches && root.matches('form[data-once]') ? [root] : root.querySelectorAll('form[data-once]');
    Array.prototype.forEach.call(forms, function (f) {
      submitButtons(f).forEach(function (b) { b.disabled = false; b.removeAttribute('aria-busy'); });
    });
  }
  window.addEventListener('pageshow', function (e) { if (e.persisted) reenable(doc); }); // back button (bfcache)
  doc.addEventListener('htmx:afterRequest', function (e) { reenable(e.detail && e.detail.elt); });

  // (b) auto-submit on change
  doc.addEventListener('change', function (e) {
    var el = e.target;
    if (!el || !el.form) return;
    if (el.hasAttribute('data-autosubmit') || (el.tagName === 'SELECT' && el.form.hasAttribute('data-autosubmit'))) {
      submitForm(el.form);
    }
  });

  // (c) print buttons
  doc.addEventListener('click', function (e) {
    var el = e.target.closest && e.target.closest('[data-print]');
    if (el) { e.preventDefault(); window.print(); }
  });

  // (e) autofocus
  function autofocus(root) {
    var el = (root && root.querySelector ? root : doc).querySelector('[data-autofocus]');
    if (!el && root !== doc) el = doc.querySelector('[data-autofocus]');
    if (el && typeof el.focus === 'function' && !el.disabled) {
      el.focus();
      if (typeof el.select === 'function' && el.value) el.select();   // next wedge scan overwrites
    }
  }

  // (f) CSRF header for htmx (read at request time so a refreshed meta tag is honoured)
  doc.addEventListener('htmx:configRequest', function (e) {
    var meta = doc.querySelector('meta[name="csrf-token"]');
    if (meta && e.detail && e.detail.headers) e.detail.headers['X-CSRFToken'] = meta.getAttribute('content');
  });
  doc.addEventListener('htmx:afterSwap', function (e) { autofocus(e.detail && e.detail.target); });

  // (g) polling fallback when htmx is absent
  function startPolling() {
    if (window.htmx) return;
    Array.prototype.forEach.call(doc.querySelectorAll('[data-refresh-url][data-refresh-seconds]'), function (el) {
      var url = el.getAttribute('data-refresh-url');
      var secs = parseInt(el.getAttribute('data-refresh-seconds'), 10);
      if (!url || !(secs > 0)) return;
      var busy = false;
      window.setInterval(function () {
        if (busy || doc.hidden) return;
        busy = true;
        fetch(url, { credentials: 'same-origin', mode: 'same-origin', cache: 'no-store',
                     headers: { 'X-Requested-With': 'fetch' } })
          .then(function (res) {
            if (res.redirected) { window.location.reload(); return null; }  // e.g. session expired → login
            return res.ok ? res.text() : null;
          })
          .then(function (html) { if (html !== null) el.innerHTML = html; })
          .catch(function (err) { if (window.console) console.warn('refresh failed', url, err); })
          .then(function () { busy = false; });
      }, secs * 1000);
    });
  }

  function init() { autofocus(doc); startPolling(); }
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
