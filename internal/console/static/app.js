// Sapient console: progressive enhancement. Every page works without this
// file; with it, dialog pages become modal dialogs in place and the Copy
// buttons appear.
(function () {
  'use strict';

  // Styles may tell pages with script from pages without.
  document.documentElement.classList.add('js');

  // showModal opens d as a modal dialog. A dialog the server rendered open
  // is closed first; the close event that follows is not a person closing.
  function showModal(d) {
    if (d.open) {
      d.dataset.reopening = '1';
      d.close();
    }
    d.showModal();
  }

  // A dialog the server rendered open (its own URL, or the answer to a
  // form) becomes modal. The API Credentials dialog also takes its page out
  // of history: reloading must never show the secret again or resend the
  // form.
  document.querySelectorAll('dialog[data-server-open]').forEach(function (d) {
    if (d.dataset.url) history.replaceState(null, '', d.dataset.url);
    showModal(d);
  });

  // Buttons that would load a dialog's page open the dialog in place.
  document.querySelectorAll('[data-open]').forEach(function (b) {
    b.addEventListener('click', function (e) {
      var d = document.getElementById(b.dataset.open);
      if (!d) return;
      e.preventDefault();
      showModal(d);
    });
  });

  // Revoke and Roll secret open their dialog in place, naming the
  // credentials and pointing its form at them.
  [['revoke', 'revoke-dialog'], ['roll', 'roll-dialog']].forEach(function (kind) {
    var d = document.getElementById(kind[1]);
    document.querySelectorAll('[data-' + kind[0] + ']').forEach(function (b) {
      b.addEventListener('click', function (e) {
        if (!d) return;
        e.preventDefault();
        d.querySelector('[data-' + kind[0] + '-name]').textContent = b.dataset.name;
        d.querySelector('[data-' + kind[0] + '-form]').action = b.dataset.action;
        showModal(d);
      });
    });
  });

  // Cancel and Close close their dialog.
  document.querySelectorAll('dialog [data-close]').forEach(function (b) {
    b.addEventListener('click', function (e) {
      e.preventDefault();
      b.closest('dialog').close();
    });
  });

  document.querySelectorAll('dialog').forEach(function (d) {
    // The secret is shown once: Escape must not lose it by accident.
    d.addEventListener('cancel', function (e) {
      if (d.hasAttribute('data-keep')) e.preventDefault();
    });
    // A dialog that had a page of its own returns to the list when closed;
    // the secret leaves the page before anything else happens.
    d.addEventListener('close', function () {
      if (d.dataset.reopening) {
        delete d.dataset.reopening;
        return;
      }
      if (!d.hasAttribute('data-server-open')) return;
      d.querySelectorAll('[data-secret]').forEach(function (el) { el.value = ''; });
      location.replace(d.dataset.return || '/');
    });
  });

  // Copy buttons: the Clipboard API where the browser allows it, otherwise
  // the text is selected for the person to copy.
  function select(el) {
    if (el.select) {
      el.focus();
      el.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function say(button, message) {
    var scope = button.closest('dialog, section, main') || document;
    var status = scope.querySelector('[data-copy-status]');
    if (!status) return;
    status.textContent = '';
    // A fresh text node makes screen readers announce a repeated message.
    setTimeout(function () { status.textContent = message; }, 50);
  }

  document.querySelectorAll('[data-copy]').forEach(function (b) {
    b.hidden = false;
    b.addEventListener('click', function () {
      var el = document.getElementById(b.dataset.copy);
      if (!el) return;
      var text = el.matches('input, textarea') ? el.value : el.textContent;
      var label = b.dataset.copyLabel || 'Text';
      var fallback = function () {
        select(el);
        var copied = false;
        try { copied = document.execCommand('copy'); } catch (err) { copied = false; }
        say(b, copied ? label + ' copied.' : label + ' selected: press Ctrl+C (or \u2318C) to copy it.');
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          say(b, label + ' copied.');
        }, fallback);
      } else {
        fallback();
      }
    });
  });

  // The user menu closes with Escape or a click elsewhere.
  document.querySelectorAll('details.user-menu').forEach(function (m) {
    m.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && m.open) {
        m.open = false;
        m.querySelector('summary').focus();
      }
    });
    document.addEventListener('click', function (e) {
      if (m.open && !m.contains(e.target)) m.open = false;
    });
  });
})();
