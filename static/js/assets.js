/* Registry: item form. Shows the fieldsets of the chosen kind (others stay in the form and are
   ignored by the server) and offers only that kind's types. No inline JS (CSP). */
(function () {
  'use strict';
  var form = document.querySelector('form.asset-form');
  if (!form) return;
  var kindSelect = form.querySelector('select[name=kind]');
  var kindHidden = form.querySelector('input[type=hidden][name=kind]');
  var subtype = form.querySelector('select[name=subtype]');

  function currentKind() { return kindSelect ? kindSelect.value : (kindHidden ? kindHidden.value : ''); }

  function apply() {
    var kind = currentKind();
    Array.prototype.forEach.call(form.querySelectorAll('fieldset.kind-fields'), function (fs) {
      var kinds = (fs.getAttribute('data-kinds') || '').split(/\s+/);
      fs.hidden = kinds.indexOf(kind) === -1;
    });
    if (!subtype) return;
    var firstEnabled = null, selectedOk = false;
    Array.prototype.forEach.call(subtype.querySelectorAll('optgroup'), function (group) {
      var on = group.getAttribute('data-kind') === kind;
      group.hidden = !on;
      group.disabled = !on;
      Array.prototype.forEach.call(group.querySelectorAll('option'), function (opt) {
        if (on && !firstEnabled) firstEnabled = opt;
        if (on && opt.selected) selectedOk = true;
      });
    });
    if (!selectedOk && firstEnabled) firstEnabled.selected = true;
  }

  if (kindSelect) kindSelect.addEventListener('change', apply);
  apply();
})();
