'use strict';
// Parley's web chat: plain JavaScript against Parley's own API, no build step, no external URLs.
// It builds the page with DOM calls only (it never parses HTML strings), so the strict Content-Security-Policy
// with Trusted Types holds.
(() => {
  const TOKEN_KEY = 'parley.token';
  const THEME_KEY = 'parley.theme';
  const $ = (id) => document.getElementById(id);
  const state = { conversation: null, busy: false, config: null };

  // Icons drawn here (no icon font, no emoji font needed): 24×24 outline paths.
  const ICONS = {
    thumb: 'M7 10v10H4V10h3zm0 0l4-7c1.6 0 2.6 1.2 2.1 3L12 9h6.2c1.2 0 2.1 1.1 1.8 2.3l-1.6 6.9c-.3 1.1-1.2 1.8-2.3 1.8H7',
    trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6',
  };

  function icon(name, flip) {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'glyph');
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', ICONS[name]);
    if (flip) path.setAttribute('transform', 'rotate(180 12 12)');
    svg.append(path);
    return svg;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, problem, retryAfter) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem || {};
      this.retryAfter = retryAfter;
    }
  }

  /** A fetch that failed before any answer: the network, not Parley. */
  class NetworkError extends Error {}

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new NetworkError(error.message);
    }
    if (!response.ok) throw await apiError(response);
    if (response.status === 204) return null;
    return response.json();
  }

  async function apiError(response) {
    let problem = null;
    try { problem = await response.json(); } catch (_) { /* not JSON */ }
    return new ApiError(response.status, problem, Number(response.headers.get('Retry-After')) || null);
  }

  /** Words for a failure, as a person needs them. */
  function describe(error) {
    if (error instanceof NetworkError) return 'Cannot reach Parley. Check your connection and try again.';
    if (!(error instanceof ApiError)) return `Something went wrong: ${error.message}`;
    switch (error.status) {
      case 429: {
        const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : ' Try again in a moment.';
        return `You are sending messages too fast.${wait}`;
      }
      case 503: return `The assistant is not available right now: ${error.message}`;
      case 401: return 'Your session has ended. Please sign in again.';
      default: return error.message;
    }
  }

  // ------------------------------------------------------------------ notices

  function notice(text, kind) {
    const node = $('notice');
    node.textContent = text || '';
    node.className = `notice ${kind || ''}`;
    node.hidden = !text;
  }

  function fail(error) {
    if (error instanceof ApiError && error.status === 401) { signOut(describe(error)); return; }
    notice(describe(error), 'error');
  }

  // ------------------------------------------------------------------ sign-in

  async function loadConfig() {
    try {
      const response = await fetch('/ui/config.json');
      state.config = response.ok ? await response.json() : { dev_auth: false };
    } catch (_) {
      state.config = { dev_auth: false };
    }
  }

  function showSignIn(message) {
    const oidc = !state.config.dev_auth && !!state.config.oidc;
    $('app').hidden = true;
    $('signin').hidden = false;
    $('dev-fields').hidden = !state.config.dev_auth;
    $('token-fields').hidden = state.config.dev_auth || oidc;
    $('signin-oidc').hidden = !oidc;
    $('signin-submit').hidden = oidc;
    $('signin-token').required = !state.config.dev_auth && !oidc;
    $('signin-user').required = state.config.dev_auth;
    $('signin-tenant').required = state.config.dev_auth;
    $('signin-error').textContent = message || '';
    (state.config.dev_auth ? $('signin-user') : oidc ? $('signin-oidc') : $('signin-token')).focus();
  }

  // ------------------------------------------------------------------ OpenID Connect (code + PKCE)

  const OIDC_KEY = 'parley.oidc';

  function base64url(bytes) {
    let text = '';
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function discovery() {
    const issuer = state.config.oidc.issuer.replace(/\/$/, '');
    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error('The sign-in service cannot be reached.');
    return response.json();
  }

  /** Off to the identity provider, with a PKCE challenge and a state to check on the way back. */
  async function oidcSignIn() {
    $('signin-error').textContent = '';
    try {
      const endpoints = await discovery();
      const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
      const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
      const stateValue = base64url(crypto.getRandomValues(new Uint8Array(16)));
      sessionStorage.setItem(OIDC_KEY, JSON.stringify({ verifier, state: stateValue, tokenEndpoint: endpoints.token_endpoint }));
      location.assign(`${endpoints.authorization_endpoint}?${new URLSearchParams({
        response_type: 'code', client_id: state.config.oidc.client_id, redirect_uri: `${location.origin}/`,
        scope: state.config.oidc.scope, state: stateValue, code_challenge: challenge, code_challenge_method: 'S256',
      })}`);
    } catch (error) {
      $('signin-error').textContent = error.message;
    }
  }

  /** Back from the identity provider: trade the code for a token. `false` when this is no callback. */
  async function oidcCallback() {
    const params = new URLSearchParams(location.search);
    if (!params.has('code') && !params.has('error')) return false;
    history.replaceState(null, '', location.pathname);  // the code leaves the address bar
    const pending = JSON.parse(sessionStorage.getItem(OIDC_KEY) || 'null');
    sessionStorage.removeItem(OIDC_KEY);
    if (params.has('error')) throw new Error(params.get('error_description') || params.get('error'));
    if (!pending || params.get('state') !== pending.state) throw new Error('The sign-in could not be verified. Please try again.');
    const response = await fetch(pending.tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: params.get('code'), redirect_uri: `${location.origin}/`,
        client_id: state.config.oidc.client_id, code_verifier: pending.verifier,
      }),
    });
    if (!response.ok) throw new Error('The identity provider refused the sign-in.');
    sessionStorage.setItem(TOKEN_KEY, (await response.json()).access_token);
    return true;
  }

  async function signIn(event) {
    event.preventDefault();
    $('signin-error').textContent = '';
    try {
      if (state.config.dev_auth) {
        const response = await fetch('/ui/dev-token', {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ user: $('signin-user').value.trim(), tenant: $('signin-tenant').value.trim() }),
        });
        if (!response.ok) throw await apiError(response);
        sessionStorage.setItem(TOKEN_KEY, (await response.json()).token);
      } else {
        sessionStorage.setItem(TOKEN_KEY, $('signin-token').value.trim());
      }
      await start();
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      $('signin-error').textContent = error instanceof TypeError ? describe(new NetworkError()) : describe(error);
    }
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.conversation = null;
    $('messages').replaceChildren();
    $('conversations').replaceChildren();
    showSignIn(message);
  }

  function tokenSubject() {
    try {
      const payload = sessionStorage.getItem(TOKEN_KEY).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(payload)).sub || '';
    } catch (_) {
      return '';
    }
  }

  // ------------------------------------------------------------------ conversations

  async function loadConversations() {
    const page = await api('GET', '/api/v1/conversations?limit=50');
    const list = $('conversations');
    list.replaceChildren(...page.conversations.map((conversation) => {
      const item = el('li', conversation.id === state.conversation ? 'current' : '');
      const open = el('button', 'conversation', conversation.title || 'Conversation');
      open.type = 'button';
      open.dataset.id = conversation.id;
      if (conversation.id === state.conversation) open.setAttribute('aria-current', 'true');
      open.addEventListener('click', () => openConversation(conversation.id, conversation.title));
      const remove = el('button', 'icon delete');
      remove.append(icon('trash'));
      remove.type = 'button';
      remove.setAttribute('aria-label', `Delete “${conversation.title}”`);
      remove.addEventListener('click', () => deleteConversation(conversation));
      item.append(open, remove);
      return item;
    }));
  }

  async function openConversation(id, title) {
    state.conversation = id;
    $('title').textContent = title || 'Conversation';
    notice('');
    closeSidebar();
    try {
      const page = await api('GET', `/api/v1/chat/history?conversation_id=${id}&limit=200`);
      $('messages').replaceChildren();
      for (const message of page.messages) {
        if (message.role === 'user') {
          addUserMessage(message.content);
        } else {
          const bubble = addAssistantMessage();
          for (const call of message.tool_calls || []) bubble.toolResult(call);
          bubble.setText(message.content);
          bubble.finish(message.id);
        }
      }
      scrollDown();
      await loadConversations();
    } catch (error) {
      fail(error);
    }
    $('message').focus();
  }

  function newChat() {
    state.conversation = null;
    $('title').textContent = 'New chat';
    $('messages').replaceChildren();
    notice('');
    closeSidebar();
    loadConversations().catch(fail);
    $('message').focus();
  }

  async function deleteConversation(conversation) {
    if (!window.confirm(`Delete “${conversation.title}” and its messages?`)) return;
    try {
      await api('DELETE', `/api/v1/conversations/${conversation.id}`);
      if (state.conversation === conversation.id) newChat(); else await loadConversations();
    } catch (error) {
      fail(error);
    }
  }

  // ------------------------------------------------------------------ messages

  function scrollDown() {
    const list = $('messages');
    list.scrollTop = list.scrollHeight;
  }

  function addUserMessage(text) {
    const item = el('li', 'message user');
    item.append(el('div', 'bubble', text));
    $('messages').append(item);
    return item;
  }

  /** What a tool call did, in words ("Added task 6: Buy milk"). */
  function toolSummary(call) {
    const result = call.result || {};
    if (result.error) return `⚠ ${call.name.replace('_', ' ')}: ${result.error.message}`;
    const task = result.task;
    switch (call.name) {
      case 'add_task': return `Added task ${task.id}: ${task.title}`;
      case 'complete_task': return result.already_completed ? `Task ${task.id} was already done: ${task.title}` : `Completed task ${task.id}: ${task.title}`;
      case 'delete_task': return `Deleted task ${task.id}: ${task.title}`;
      case 'update_task': return `Updated task ${task.id}: ${task.title}`;
      case 'restore_task': return `Restored task ${task.id}: ${task.title}`;
      case 'list_tasks': return `Looked at your tasks (${result.count})`;
      default: return call.name;
    }
  }

  function addAssistantMessage() {
    const item = el('li', 'message assistant');
    const tools = el('ul', 'tool-calls');
    const bubble = el('div', 'bubble');
    const text = el('span', 'text');
    bubble.append(text);
    item.append(tools, bubble);
    $('messages').append(item);
    let pending = null;
    return {
      item,
      toolStarted(name) {
        pending = el('li', 'tool-call running', `Working: ${name.replace('_', ' ')}…`);
        tools.append(pending);
      },
      toolResult(call) {
        const line = pending || el('li', 'tool-call');
        pending = null;
        line.className = `tool-call ${call.result && call.result.error ? 'failed' : 'done'}`;
        line.textContent = toolSummary(call);
        if (!line.parentNode) tools.append(line);
      },
      append(piece) { text.textContent += piece; },
      setText(value) { text.textContent = value; },
      restart() { text.textContent = ''; },
      finish(messageId) {
        item.classList.remove('streaming');
        if (messageId) item.append(feedbackControls(messageId));
      },
    };
  }

  function feedbackControls(messageId) {
    const box = el('div', 'feedback');
    const up = el('button', 'icon rate');
    const down = el('button', 'icon rate');
    up.append(icon('thumb'));
    down.append(icon('thumb', true));
    const form = el('form', 'feedback-comment');
    const input = el('input');
    const save = el('button', 'secondary', 'Send');
    form.hidden = true;
    input.placeholder = 'Tell us more (optional)';
    input.maxLength = 2000;
    input.setAttribute('aria-label', 'Feedback comment');
    form.append(input, save);
    let rating = null;
    for (const [button, value, label] of [[up, 'up', 'Good answer'], [down, 'down', 'Bad answer']]) {
      button.type = 'button';
      button.dataset.rating = value;
      button.setAttribute('aria-label', label);
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', async () => {
        rating = value;
        if (await rate(messageId, value, null)) {
          for (const other of [up, down]) other.setAttribute('aria-pressed', String(other === button));
          form.hidden = false;
          input.focus();
        }
      });
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (rating && await rate(messageId, rating, input.value.trim() || null)) {
        form.hidden = true;
        box.append(el('span', 'muted thanks', 'Thanks for the feedback.'));
      }
    });
    box.append(up, down, form);
    return box;
  }

  async function rate(messageId, rating, comment) {
    try {
      const body = { message_id: messageId, rating };
      if (comment) body.comment = comment;
      await api('POST', '/api/v1/chat/feedback', body);
      return true;
    } catch (error) {
      fail(error);
      return false;
    }
  }

  // ------------------------------------------------------------------ sending

  async function send(event) {
    if (event) event.preventDefault();
    const input = $('message');
    const text = input.value.trim();
    if (!text || state.busy) return;
    state.busy = true;
    $('send').disabled = true;
    notice('');
    const userItem = addUserMessage(text);
    input.value = '';
    autosize();
    const bubble = addAssistantMessage();
    bubble.item.classList.add('streaming');
    scrollDown();
    try {
      const body = { message: text, stream: true };
      if (state.conversation) body.conversation_id = state.conversation;
      let response;
      try {
        response = await fetch('/api/v1/chat', {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}`,
            'Content-Type': 'application/json', Accept: 'text/event-stream',
          },
          body: JSON.stringify(body),
        });
      } catch (error) {
        throw new NetworkError(error.message);
      }
      if (!response.ok) throw await apiError(response);
      await readEvents(response, (name, data) => {
        switch (name) {
          case 'delta': bubble.append(data.text); scrollDown(); break;
          case 'restart': bubble.restart(); break;
          case 'tool_call': bubble.toolStarted(data.name); break;
          case 'tool_result': bubble.toolResult(data); loadTasks().catch(() => {}); break;
          case 'done': {
            bubble.setText(data.response);
            bubble.finish(data.message_id);
            const isNew = state.conversation !== data.conversation_id;
            state.conversation = data.conversation_id;
            if (isNew) $('title').textContent = text.slice(0, 80);
            loadConversations().catch(() => {});
            break;
          }
          case 'error': throw new ApiError(data.status || 500, data);
          default: break;
        }
      });
    } catch (error) {
      // A failed turn stored nothing: the message goes back into the box, to send again.
      bubble.item.remove();
      userItem.remove();
      input.value = input.value || text;
      autosize();
      fail(error);
    } finally {
      state.busy = false;
      $('send').disabled = false;
      input.focus();
      scrollDown();
    }
  }

  /** Reads a Server-Sent Events body, calling `handle(event name, data)` for each event. */
  async function readEvents(response, handle) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) handle(name, JSON.parse(data.join('\n')));
        }
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new NetworkError(error.message);
    }
  }

  // ------------------------------------------------------------------ tasks

  async function loadTasks() {
    const page = await api('GET', '/api/v1/tasks?status=all');
    $('tasks').replaceChildren(...page.tasks.map((task) => {
      const item = el('li', `task ${task.status}`);
      const box = el('input');
      box.type = 'checkbox';
      box.checked = task.status === 'completed';
      box.id = `task-${task.id}`;
      box.addEventListener('change', async () => {
        try {
          await api('PATCH', `/api/v1/tasks/${task.id}`, { status: box.checked ? 'completed' : 'pending' });
          await loadTasks();
        } catch (error) {
          box.checked = !box.checked;
          fail(error);
        }
      });
      const label = el('label', 'task-title', `${task.id}. ${task.title}`);
      label.htmlFor = box.id;
      item.append(box, label);
      return item;
    }));
    $('tasks-empty').hidden = page.tasks.length > 0;
  }

  // ------------------------------------------------------------------ layout

  function autosize() {
    const input = $('message');
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    input.style.overflowY = input.scrollHeight > 200 ? 'auto' : 'hidden';
  }

  function openSidebar() { document.body.classList.add('sidebar-open'); $('new-chat').focus(); }
  function closeSidebar() { document.body.classList.remove('sidebar-open'); }

  function applyTheme(theme) {
    if (theme) document.documentElement.dataset.theme = theme; else delete document.documentElement.dataset.theme;
  }

  function toggleTheme() {
    const current = document.documentElement.dataset.theme
      || (window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
    const next = current === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
  }

  async function start() {
    $('signin').hidden = true;
    $('app').hidden = false;
    $('who').textContent = tokenSubject();
    newChat();
    autosize();
    try {
      await Promise.all([loadConversations(), loadTasks()]);
    } catch (error) {
      fail(error);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    applyTheme(localStorage.getItem(THEME_KEY));
    $('signin-form').addEventListener('submit', signIn);
    $('signin-oidc').addEventListener('click', oidcSignIn);
    $('composer').addEventListener('submit', send);
    $('message').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) send(event);
    });
    $('message').addEventListener('input', autosize);
    $('new-chat').addEventListener('click', newChat);
    $('sign-out').addEventListener('click', () => signOut(''));
    $('theme').addEventListener('click', toggleTheme);
    $('open-sidebar').addEventListener('click', openSidebar);
    $('close-sidebar').addEventListener('click', closeSidebar);
    $('toggle-tasks').addEventListener('click', () => {
      const open = document.body.classList.toggle('tasks-open');
      $('toggle-tasks').setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (event) => { if (event.key === 'Escape') closeSidebar(); });
    await loadConfig();
    try {
      if (state.config.oidc) await oidcCallback();
    } catch (error) {
      showSignIn(error.message);
      return;
    }
    if (sessionStorage.getItem(TOKEN_KEY)) await start(); else showSignIn('');
  });
})();
