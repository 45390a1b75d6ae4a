// Sapient console: passkeys (WebAuthn). A form marked data-passkey asks
// the server for the ceremony's options (data-options), lets the browser
// create or use a passkey, puts the answer in the form's hidden fields and
// submits it; the server answers with an ordinary page. Without
// JavaScript or WebAuthn, the form says so instead.
(function () {
  'use strict';

  function b64d(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function b64e(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function ids(list) {
    (list || []).forEach(function (c) { c.id = b64d(c.id); });
  }

  async function ceremony(form) {
    var res = await fetch(form.dataset.options, { method: 'POST', headers: { 'Accept': 'application/json' }, credentials: 'same-origin' });
    if (!res.ok) throw new Error('The passkey could not be started. Reload the page and try again.');
    var c = await res.json(), pk = c.options.publicKey, cred, r, out;
    pk.challenge = b64d(pk.challenge);
    if (form.dataset.passkey === 'register') {
      pk.user.id = b64d(pk.user.id);
      ids(pk.excludeCredentials);
      cred = await navigator.credentials.create({ publicKey: pk });
      r = cred.response;
      out = { attestationObject: b64e(r.attestationObject), clientDataJSON: b64e(r.clientDataJSON) };
      if (r.getTransports) out.transports = r.getTransports();
    } else {
      ids(pk.allowCredentials);
      cred = await navigator.credentials.get({ publicKey: pk, mediation: 'optional' });
      r = cred.response;
      out = { authenticatorData: b64e(r.authenticatorData), clientDataJSON: b64e(r.clientDataJSON), signature: b64e(r.signature) };
      if (r.userHandle) out.userHandle = b64e(r.userHandle);
    }
    form.elements.challenge.value = c.challenge;
    form.elements.credential.value = JSON.stringify({
      id: cred.id, rawId: b64e(cred.rawId), type: cred.type, response: out,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    });
    form.submit();
  }

  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    var status = form.querySelector('.passkey-status');
    if (!window.PublicKeyCredential) {
      if (status) status.textContent = 'This browser cannot use passkeys.';
      return;
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (status) status.textContent = '';
      ceremony(form).catch(function (err) {
        if (status) status.textContent = err && err.name === 'NotAllowedError'
          ? 'The passkey was cancelled or timed out. Try again.'
          : (err && err.message) || 'The passkey did not work. Try again.';
      });
    });
  });
})();
