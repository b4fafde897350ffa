/* Registry: scan page. Needs /static/vendor/qr-scanner.umd.min.js loaded first (it fetches
   ./qr-scanner-worker.min.js from the same folder and runs it as a blob: worker, so the CSP
   needs worker-src 'self' blob:). Markup contract (ids):
     form#scan-form > input#scan-code[name=code]   USB wedge scanner / typing: works without JS
     button#camera-start[type=button][hidden]      shown only in a secure context with a camera
     video#scan-video.scan-video[hidden][playsinline][muted]
     p#camera-unavailable[hidden]                  shown when the page is not a secure context (plain HTTP)
     input#scan-photo[type=file][accept="image/*"][capture=environment]   always works
     #scan-status[data-msg-nodecode="…"][data-msg-camera-error="…"][data-msg-working="…"]
   highlightScanRegion/highlightCodeOutline are NOT used: they inject SVG with style="" attributes,
   which style-src 'self' blocks. */
(function () {
  'use strict';
  var form = document.getElementById('scan-form');
  var input = document.getElementById('scan-code');
  if (!form || !input) return;
  var camBtn = document.getElementById('camera-start');
  var video = document.getElementById('scan-video');
  var photo = document.getElementById('scan-photo');
  var status = document.getElementById('scan-status');
  var hint = document.getElementById('camera-unavailable');
  var Scanner = window.QrScanner;
  var scanner = null, submitted = false;

  function say(key, fallback, detail) {
    if (!status) return;
    var msg = status.getAttribute('data-msg-' + key) || fallback;
    status.textContent = detail ? msg + ' (' + detail + ')' : msg;
  }

  function stopCamera() {
    if (scanner) scanner.stop();
    if (video) video.hidden = true;
    if (camBtn) camBtn.setAttribute('aria-pressed', 'false');
  }

  function accept(result) {
    var data = result && typeof result === 'object' ? result.data : result;
    if (submitted || !data) return;
    submitted = true;
    stopCamera();
    input.value = data;
    if (typeof form.requestSubmit === 'function') form.requestSubmit(); else form.submit();
    window.setTimeout(function () { submitted = false; }, 1500);   // allow a rescan if the submit was cancelled
  }

  if (!Scanner) {                       // vendor script missing: keep the plain form only
    if (camBtn) camBtn.hidden = true;
    if (photo) photo.disabled = true;
    return;
  }

  // Live camera: only in a secure context (HTTPS or localhost)
  var cameraPossible = !!(window.isSecureContext && navigator.mediaDevices && video && camBtn);
  if (camBtn) camBtn.hidden = true;
  if (hint) hint.hidden = !!window.isSecureContext;
  if (cameraPossible) {
    Scanner.hasCamera().then(function (has) { camBtn.hidden = !has; });   // desk PC without webcam: no button
    camBtn.addEventListener('click', function (e) {
      e.preventDefault();
      if (scanner && !video.hidden) { stopCamera(); return; }     // second click = stop
      video.hidden = false;   // visible BEFORE construction: a hidden video gets opacity 0 / size 0 from qr-scanner
      if (!scanner) {
        scanner = new Scanner(video, accept, {
          returnDetailedScanResult: true,
          preferredCamera: 'environment'   // default onDecodeError already ignores "No QR code found"
        });
      }
      camBtn.setAttribute('aria-pressed', 'true');
      say('working', '');
      scanner.start().catch(function (err) {
        stopCamera();
        say('camera-error', 'Camera not available', err && (err.name || err.message || String(err)));
      });
    });
    window.addEventListener('pagehide', stopCamera);
  }

  // Photo of a label: works over plain HTTP too
  if (photo) {
    photo.addEventListener('change', function () {
      var file = photo.files && photo.files[0];
      if (!file) return;
      say('working', '');
      Scanner.scanImage(file, { returnDetailedScanResult: true })
        .then(function (result) { say('decoded', ''); accept(result); })
        .catch(function () { say('nodecode', 'No QR code found'); })
        .then(function () { photo.value = ''; });            // same file can be chosen again
    });
  }
})();
