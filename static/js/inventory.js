/* Registry: inventory walk (scan-as-you-walk). Needs /static/vendor/qr-scanner.umd.min.js first.
   Unlike scan.js the camera keeps running: every decoded label is put into the walk form and
   submitted (htmx swaps #walk, which holds the form, the counts and the last result); the same code
   is ignored for 2.5 s so that a label held in front of the camera is recorded once.
   Markup contract (ids):
     form#walk-form > input#walk-code[name=code], select#walk-room[name=room_id]   (inside #walk, swapped)
     button#walk-camera[hidden], video#walk-video.scan-video[hidden]             (outside #walk, kept)
     p#walk-camera-unavailable[hidden], input#walk-photo[type=file], #walk-status[data-msg-*]
   Without JavaScript the form posts normally and the page redirects back (USB wedge scanners work). */
(function () {
  'use strict';
  var doc = document;
  var camBtn = doc.getElementById('walk-camera');
  var video = doc.getElementById('walk-video');
  var photo = doc.getElementById('walk-photo');
  var status = doc.getElementById('walk-status');
  var hint = doc.getElementById('walk-camera-unavailable');
  var Scanner = window.QrScanner;
  var scanner = null, lastCode = null, lastAt = 0, busy = false;

  function say(key, fallback, detail) {
    if (!status) return;
    var msg = status.getAttribute('data-msg-' + key) || fallback || '';
    status.textContent = detail ? msg + ' (' + detail + ')' : msg;
  }

  function submitCode(text) {
    var form = doc.getElementById('walk-form');
    var input = doc.getElementById('walk-code');
    if (!form || !input || !text) return;
    var now = Date.now();
    if ((text === lastCode && now - lastAt < 2500) || busy) return;
    lastCode = text; lastAt = now;
    input.value = text;
    if (navigator.vibrate) navigator.vibrate(40);
    if (typeof form.requestSubmit === 'function') form.requestSubmit(); else form.submit();
  }

  // htmx request in flight: do not queue a second submit from the camera
  doc.addEventListener('htmx:beforeRequest', function () { busy = true; });
  doc.addEventListener('htmx:afterRequest', function () { busy = false; });

  function stopCamera() {
    if (scanner) scanner.stop();
    if (video) video.hidden = true;
    if (camBtn) camBtn.setAttribute('aria-pressed', 'false');
  }

  if (!Scanner) {
    if (camBtn) camBtn.hidden = true;
    if (photo) photo.disabled = true;
    return;
  }

  var cameraPossible = !!(window.isSecureContext && navigator.mediaDevices && video && camBtn);
  if (hint) hint.hidden = !!window.isSecureContext;
  if (cameraPossible) {
    Scanner.hasCamera().then(function (has) { camBtn.hidden = !has; });
    camBtn.addEventListener('click', function (e) {
      e.preventDefault();
      if (scanner && !video.hidden) { stopCamera(); return; }
      video.hidden = false;     // visible before construction (qr-scanner measures the element)
      if (!scanner) {
        scanner = new Scanner(video, function (result) {
          submitCode(result && typeof result === 'object' ? result.data : result);
        }, { returnDetailedScanResult: true, preferredCamera: 'environment', maxScansPerSecond: 5 });
      }
      camBtn.setAttribute('aria-pressed', 'true');
      say('working', '');
      scanner.start().then(function () { say('decoded', ''); }).catch(function (err) {
        stopCamera();
        say('camera-error', 'Camera not available', err && (err.name || err.message || String(err)));
      });
    });
    window.addEventListener('pagehide', stopCamera);
  }

  if (photo) {
    photo.addEventListener('change', function () {
      var file = photo.files && photo.files[0];
      if (!file) return;
      say('working', '');
      Scanner.scanImage(file, { returnDetailedScanResult: true })
        .then(function (result) { say('decoded', ''); lastCode = null; submitCode(result.data); })
        .catch(function () { say('nodecode', 'No QR code found'); })
        .then(function () { photo.value = ''; });
    });
  }
})();
