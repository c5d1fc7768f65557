// The join form: show the code as the presenter shows it (upper case, in two halves).

const input = document.getElementById('code-input');
if (input) {
  input.addEventListener('input', () => {
    const start = input.selectionStart;
    const before = input.value;
    const clean = before.toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, 6);
    const shown = clean.length > 3 ? `${clean.slice(0, 3)}-${clean.slice(3)}` : clean;
    if (shown !== before) {
      input.value = shown;
      const shift = shown.length - before.length;
      input.setSelectionRange(Math.max(0, start + shift), Math.max(0, start + shift));
    }
  });
}
