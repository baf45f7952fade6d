/* global document, fetch, setTimeout, localStorage, EventSource */
// The sandbox page: draws the workspace from GET /sandbox/state, redraws on every server-sent
// "change", and sends what the person does to POST /sandbox/act, which the sandbox turns into
// signed Slack requests to the bot. Plain browser JavaScript, no build step.
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let state = null;
let me = localStorage.getItem('bg-me') || 'URITA';
let here = localStorage.getItem('bg-here') || '';
const typed = {}; // viewId -> block_id -> action_id -> value, kept across redraws

async function act(body) {
  const res = await fetch('/sandbox/act', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: me, ...body }) });
  const out = await res.json();
  if (!out.ok) toast(out.error);
}
function toast(text) {
  const t = $('#toast');
  t.textContent = text;
  t.hidden = false;
  setTimeout(() => (t.hidden = true), 4000);
}
const nameOf = (id) => (id === 'UBREAKGLASS' ? 'breakglass' : state.people.find((p) => p.id === id)?.name ?? id);

const EMOJI = { hourglass_flowing_sand: '⏳', white_check_mark: '✅', x: '❌', warning: '⚠️', lock: '🔒', unlock: '🔓', key: '🔑', rotating_light: '🚨', no_entry: '⛔', stopwatch: '⏱️', hourglass: '⌛', heavy_check_mark: '✔️', octagonal_sign: '🛑', bell: '🔔', clipboard: '📋', mag: '🔍', timer_clock: '⏲️', large_green_circle: '🟢', red_circle: '🔴', no_entry_sign: '🚫', memo: '📝', eyes: '👀', fire: '🔥', closed_lock_with_key: '🔐', information_source: 'ℹ️', alarm_clock: '⏰', gear: '⚙️', wastebasket: '🗑️', arrow_up: '⬆️', ice_cube: '🧊', link: '🔗', speech_balloon: '💬', sunny: '☀️' };

/** Slack's mrkdwn, enough of it: bold, italic, strike, code, links, mentions, dates, quotes. */
function mrkdwn(text) {
  let s = esc(text);
  s = s.replace(/&lt;!date\^\d+\^[^|]*\|([^&]*)&gt;/g, '$1');
  s = s.replace(/&lt;@([A-Z0-9]+)&gt;/g, (_, id) => `<b>@${esc(nameOf(id))}</b>`);
  s = s.replace(/&lt;#([A-Z0-9]+)(\|[^&]*)?&gt;/g, (_, id) => `<b>#${esc(state.channels.find((c) => c.id === id)?.name ?? id)}</b>`);
  s = s.replace(/&lt;(https?:[^|&]+)\|([^&]*)&gt;/g, '<a href="$1" target="_blank">$2</a>');
  s = s.replace(/&lt;(https?:[^&]+)&gt;/g, '<a href="$1" target="_blank">$1</a>');
  s = s.replace(/```([\s\S]*?)```/g, '<pre>$1</pre>').replace(/`([^`]+)`/g, '<code>$1</code>');
  s = s.replace(/(^|[\s(])\*([^*\n]+)\*/g, '$1<b>$2</b>').replace(/(^|[\s(])_([^_\n]+)_/g, '$1<i>$2</i>').replace(/(^|\s)~([^~\n]+)~/g, '$1<s>$2</s>');
  s = s.replace(/^&gt; ?(.*)$/gm, '<span style="border-left:3px solid #ddd;padding-left:6px">$1</span>');
  s = s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ?? m);
  return s.replace(/\n/g, '<br>');
}
const txt = (t) => (!t ? '' : t.type === 'mrkdwn' ? mrkdwn(t.text) : esc(t.text));

/** Block Kit: header, section (text, fields, accessory), context, divider, actions, input. `where` says where a click goes. */
function blocks(list, where, view) {
  return (list || []).map((b) => {
    switch (b.type) {
      case 'header': return `<div class="blk-header">${txt(b.text)}</div>`;
      case 'divider': return '<hr class="blk-divider">';
      case 'context': return `<div class="blk-context">${(b.elements || []).map((e) => (e.type === 'image' ? '' : txt(e))).join(' · ')}</div>`;
      case 'section': return `<div class="blk-section"><div style="flex:1">${txt(b.text)}${b.fields ? `<div class="fields">${b.fields.map((f) => `<div>${txt(f)}</div>`).join('')}</div>` : ''}</div>${b.accessory ? element(b, b.accessory, where) : ''}</div>`;
      case 'actions': return `<div class="blk-actions">${(b.elements || []).map((e) => element(b, e, where)).join('')}</div>`;
      case 'input': return view ? input(b, view) : '';
      case 'rich_text': return `<div>${esc(JSON.stringify(b.elements).slice(0, 0))}</div>`;
      default: return `<div class="blk-context">[${esc(b.type)} block]</div>`;
    }
  }).join('');
}
function element(b, e, where) {
  if (e.type === 'button') {
    const data = esc(JSON.stringify({ ...where, blockId: b.block_id, actionId: e.action_id, confirm: e.confirm || null }));
    return `<button class="btn ${e.style || ''}" data-action="${data}">${txt(e.text)}</button>`;
  }
  if (e.type === 'image') return '';
  return `<span class="blk-context">[${esc(e.type)}]</span>`;
}
function input(b, view) {
  const e = b.element;
  const v = typed[view.id]?.[b.block_id]?.[e.action_id] ?? (e.initial_option?.value ?? e.initial_value ?? '');
  const err = view.errors?.[b.block_id];
  const attrs = `data-view="${view.id}" data-block="${esc(b.block_id)}" data-el="${esc(e.action_id)}" name="${esc(b.block_id)}"`;
  let control;
  if (e.type === 'static_select') {
    control = `<select ${attrs}><option value="">${esc(e.placeholder?.text ?? 'Choose…')}</option>${(e.options || []).map((o) => `<option value="${esc(o.value)}" ${o.value === v ? 'selected' : ''}>${esc(o.text.text)}</option>`).join('')}</select>`;
  } else if (e.multiline) {
    control = `<textarea rows="3" ${attrs} placeholder="${esc(e.placeholder?.text ?? '')}">${esc(v)}</textarea>`;
  } else {
    control = `<input ${attrs} value="${esc(v)}" placeholder="${esc(e.placeholder?.text ?? '')}">`;
  }
  return `<div class="input ${err ? 'has-error' : ''}"><label>${esc(b.label?.text)}${b.optional ? ' <small>(optional)</small>' : ''}</label>${control}${b.hint ? `<div class="hint">${txt(b.hint)}</div>` : ''}${err ? `<div class="error">${esc(err)}</div>` : ''}</div>`;
}
function when(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
function message(m, extra = '') {
  return `<div class="msg ${extra}" data-ts="${m.ts}"><span class="who">${esc(nameOf(m.user))}</span><span class="when">${when(m.ts)}${m.edited ? ' (edited)' : ''}</span>${m.blocks ? blocks(m.blocks, { channel: m.channel, ts: m.ts }) : `<div>${mrkdwn(m.text)}</div>`}</div>`;
}

function render() {
  if (!state) return;
  const person = state.people.find((p) => p.id === me) ?? state.people[0];
  me = person.id;
  $('#people').innerHTML = state.people.map((p) => `<button class="person ${p.id === me ? 'on' : ''}" data-person="${p.id}">${esc(p.realName)} <small>${esc(p.role)}</small></button>`).join('');
  const dm = `D${me}`;
  const home = state.views.find((v) => v.type === 'home' && v.userId === me);
  const places = [...state.channels.filter((c) => !c.dmWith).map((c) => ({ id: c.id, label: `# ${c.name}` })), { id: dm, label: 'breakglass (DM)' }, { id: 'HOME', label: 'breakglass · App Home' }];
  if (!places.some((p) => p.id === here)) here = places[0].id;
  if (here.startsWith('D') && here !== dm) here = dm;
  $('#channels').innerHTML = places.map((p) => `<button class="chan ${p.id === here ? 'on' : ''}" data-place="${p.id}">${esc(p.label)}</button>`).join('');
  $('#policy').textContent = state.policy;

  const list = $('#messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  if (here === 'HOME') {
    $('#title').textContent = 'breakglass · Home';
    list.innerHTML = home ? `<div class="home">${blocks(home.view.blocks, { viewId: home.id }, home)}</div>` : '<p class="none">The bot has not published a Home for you yet.</p>';
  } else {
    const c = state.channels.find((x) => x.id === here);
    $('#title').textContent = c && !c.dmWith ? `# ${c.name}` : 'breakglass (direct message)';
    const msgs = state.messages.filter((m) => m.channel === here);
    const eph = state.ephemerals.filter((e) => e.channel === here && e.user === me);
    const items = [...msgs.filter((m) => !m.threadTs).map((m) => ({ ts: m.ts, html: message(m) + (msgs.some((r) => r.threadTs === m.ts) ? `<div class="thread">${msgs.filter((r) => r.threadTs === m.ts).map((r) => message(r)).join('')}</div>` : '') })),
      ...eph.map((e) => ({ ts: e.ts, html: message({ ...e, user: 'UBREAKGLASS' }, 'ephemeral').replace('</span>', '</span><span class="note"> · Only visible to you</span>') }))];
    items.sort((a, b) => Number(a.ts) - Number(b.ts));
    list.innerHTML = items.map((i) => i.html).join('') || '<p class="none">Nothing here yet.</p>';
  }
  if (atBottom) list.scrollTop = list.scrollHeight;

  const ic = state.identityCenter;
  $('#assignments').innerHTML = ic.assignments.length
    ? ic.assignments.map((a) => `<div class="assignment" data-assignment="${esc(a.principal)}"><b>${esc(a.principal)}</b> (${a.principalType})<br>account ${esc(a.accountId)}<br><small>${esc(a.permissionSetArn.split('/').pop())}</small></div>`).join('')
    : '<p class="none">No account assignments.</p>';
  $('#inline').innerHTML = ic.inlinePolicies.map((p) => `<div><b>${esc(p.name)}</b>${p.policy ? `<pre>${esc(JSON.stringify(JSON.parse(p.policy), null, 1))}</pre>` : '<p class="none">no inline policy</p>'}</div>`).join('');

  const modal = state.views.filter((v) => v.type === 'modal' && v.userId === me && !v.closed).pop();
  const overlay = $('#overlay');
  if (!overlay.dataset.confirm) {
    // Redrawn only when the view itself changes, so typing is never interrupted by other news.
    const sig = modal ? JSON.stringify([modal.id, modal.view, modal.errors]) : '';
    if (modal && overlay.dataset.sig === sig) {
      // unchanged
    } else if (modal) {
      overlay.dataset.sig = sig;
      const focused = document.activeElement?.dataset?.el;
      const v = modal.view;
      overlay.innerHTML = `<div class="modal" data-modal="${modal.id}"><h3>${esc(v.title?.text)}</h3><div class="body">${blocks(v.blocks, { viewId: modal.id }, modal)}</div><footer><button class="btn" data-close="${modal.id}">${esc(v.close?.text ?? 'Cancel')}</button>${v.submit ? `<button class="btn primary" data-submit="${modal.id}">${esc(v.submit.text)}</button>` : ''}</footer></div>`;
      overlay.hidden = false;
      if (focused) overlay.querySelector(`[data-el="${focused}"]`)?.focus();
    } else {
      delete overlay.dataset.sig;
      overlay.hidden = true;
      overlay.innerHTML = '';
    }
  }
}

function values(viewId) {
  return typed[viewId] || {};
}

document.addEventListener('input', (ev) => {
  const el = ev.target;
  if (!el.dataset?.view) return;
  ((typed[el.dataset.view] ??= {})[el.dataset.block] ??= {})[el.dataset.el] = el.value;
});
document.addEventListener('change', (ev) => {
  const el = ev.target;
  if (!el.dataset?.view) return;
  ((typed[el.dataset.view] ??= {})[el.dataset.block] ??= {})[el.dataset.el] = el.value;
});

function confirmThen(confirm, go) {
  if (!confirm) return go();
  const overlay = $('#overlay');
  overlay.dataset.confirm = '1';
  overlay.innerHTML = `<div class="modal confirm"><h3>${esc(confirm.title?.text ?? 'Are you sure?')}</h3><div class="body">${txt(confirm.text)}</div><footer><button class="btn" data-confirm="no">${esc(confirm.deny?.text ?? 'Cancel')}</button><button class="btn ${confirm.style === 'danger' ? 'danger' : 'primary'}" data-confirm="yes">${esc(confirm.confirm?.text ?? 'Yes')}</button></footer></div>`;
  overlay.hidden = false;
  overlay.onclick = (ev) => {
    const answer = ev.target.dataset?.confirm;
    if (!answer) return;
    delete overlay.dataset.confirm;
    delete overlay.dataset.sig;
    overlay.onclick = null;
    render();
    if (answer === 'yes') go();
  };
}

document.addEventListener('click', (ev) => {
  const t = ev.target.closest('button');
  if (!t) return;
  if (t.dataset.person) {
    me = t.dataset.person;
    localStorage.setItem('bg-me', me);
    render();
    if (here === 'HOME') void act({ kind: 'home' });
  } else if (t.dataset.place) {
    here = t.dataset.place;
    localStorage.setItem('bg-here', here);
    render();
    if (here === 'HOME') void act({ kind: 'home' });
  } else if (t.dataset.action) {
    const a = JSON.parse(t.dataset.action);
    confirmThen(a.confirm, () => void act({ kind: 'action', channel: a.channel, ts: a.ts, viewId: a.viewId, blockId: a.blockId, actionId: a.actionId, values: a.viewId ? values(a.viewId) : undefined }));
  } else if (t.dataset.submit) {
    void act({ kind: 'submit', viewId: t.dataset.submit, values: values(t.dataset.submit) });
  } else if (t.dataset.close) {
    void act({ kind: 'close', viewId: t.dataset.close });
  } else if (t.id === 'by-hand') {
    void act({ kind: 'assign-by-hand' });
  }
});

$('#composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('#box').value.trim();
  if (!text) return;
  if (!text.startsWith('/')) return toast('The bot only listens to slash commands here: try /breakglass');
  $('#box').value = '';
  void act({ kind: 'command', text, channel: here === 'HOME' ? undefined : here });
});

async function refresh() {
  state = await (await fetch('/sandbox/state')).json();
  render();
}
new EventSource('/sandbox/events').onmessage = () => void refresh();
void refresh();
