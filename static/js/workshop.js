// "Start a workshop" on the main page: a room with the current configuration, then the
// presenter's page. The token goes in the URL fragment, which browsers never send to a server.

import { request } from './api.js';
import { toRequestConfig } from './state.js';
import { createToasts } from './ui.js';

const button = document.getElementById('workshop-button');

async function start() {
  const current = window.backpropStudio?.state?.config;
  const config = current ? toRequestConfig(current) : { preset: document.body.dataset.defaultPreset || 'article' };
  button.disabled = true;
  try {
    const room = await request('POST', '/api/rooms', { config });
    location.assign(`/present/${encodeURIComponent(room.code)}#token=${encodeURIComponent(room.presenter_token)}`);
  } catch (err) {
    const region = document.getElementById('toasts');
    if (region) createToasts(region).show(`Could not start a workshop: ${err.message}`, 'error', 8000);
    button.disabled = false;
  }
}

button?.addEventListener('click', start);
