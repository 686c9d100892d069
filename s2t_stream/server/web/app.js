// The live-captions page: the microphone (an AudioWorklet at the AudioContext's own rate, 16-bit
// PCM in ~100 ms frames) → the server's native websocket protocol (docs/protocol.md) → captions:
// committed text, tentative text dimmed, finals with their times, low-confidence words marked,
// translations under their finals; exports to TXT, SRT and VTT. A translation comes from the
// server's cascade (each final's text translated, in line) where it has one, else from its
// speech-translation model, run as a second session on the same audio whose finals are put under
// the captions they overlap in time (GET /v1/languages says which). A dropped connection is
// retried with backoff while the microphone keeps running; the transcript stays, and each new
// session's times are offset by the audio captured before it, so times keep increasing.
"use strict";

const SAMPLE_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]; // protocol.py
const RETRYABLE = new Set(["idle_timeout", "session_too_long", "shutting_down", "internal"]);
const BACKOFF_S = [1, 2, 4, 8, 15, 30];
const LOW_CONFIDENCE = 0.5;
const END_TIMEOUT_MS = 15000; // after `end`, wait this long for the last finals
const CUE_WIDTH = 42; // subtitle cues: at most 2 lines of 42 characters (as io/subtitles.py)
const CUE_LINES = 2;
const MIN_CUE_S = 0.5;

const LANGUAGE_NAMES = { ca: "Catalan", de: "German", es: "Spanish", fr: "French", gl: "Galician",
  it: "Italian", nl: "Dutch", pt: "Portuguese", ro: "Romanian", ru: "Russian" }; // else the code

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const items = new WeakMap(); // a final → its list item

const page = {
  finals: [], // {text, start_s, end_s, words, translation, cut}, times on the page's timeline
  listening: false, // the user asked for captions (Start pressed and not stopped since)
  capture: null, // {context, stream, node}
  session: null, // the captions' Session, which receives the audio
  translation: null, // the translating Session beside it (a translation model), or null
  sessions: new Set(), // every open Session, the current ones and those finishing
  languages: {}, // GET /v1/languages: {code: {model, mt}}
  unplaced: [], // translated finals not yet under a caption
  captionsEnd_s: -Infinity, // where the latest caption ends
  notice: "", // shown while no error is
  refusal: "", // the translation session refused (not retried): shown so, until the next start
  captured_s: 0, // audio captured since the page loaded: the timeline's clock
  attempt: { session: 0, translation: 0 }, // each session's reconnections since its `ready`
  retry: { session: null, translation: null }, // pending reconnections' timers
};

// --- the websocket session -------------------------------------------------------------------

function withToken(path) {
  const token = params.get("token");
  return path + (token ? `?token=${encodeURIComponent(token)}` : "");
}

function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}` + withToken("/v1/stream");
}

class Session {
  // One websocket session. Its time 0 is `offset_s` on the page's timeline: the audio captured
  // before it opened (frames captured while no session was open are not sent). `slot`: the
  // captions' session ("session"), or the one translating beside it ("translation"); `fields`:
  // what its start message adds (tgt_lang, mt).
  constructor(rate, slot, fields) {
    this.rate = rate;
    this.slot = slot;
    this.fields = fields;
    this.tgtLang = fields.tgt_lang || "";
    this.offset_s = 0;
    this.started = false;
    this.ending = false;
    this.gotEnd = false;
    this.partial = null;
    this.lastEnd_s = 0;
    this.error = "";
    this.socket = new WebSocket(streamUrl());
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => this.opened();
    this.socket.onmessage = (event) => this.received(event.data);
    this.socket.onclose = (event) => this.closed(event);
    page.sessions.add(this);
  }

  opened() {
    const start = { type: "start", sample_rate: this.rate, encoding: "pcm_s16le", partials: true };
    this.socket.send(JSON.stringify({ ...start, ...this.fields }));
    this.offset_s = page.captured_s;
    this.started = true;
    if (this.ending) this.end();
  }

  send(frame) {
    if (this.started && !this.ending && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(frame);
    }
  }

  end() {
    // No more audio: the server sends the open segment's final, then `end`, and closes.
    this.ending = true;
    if (this.socket.readyState === WebSocket.OPEN && this.started) {
      this.socket.send(JSON.stringify({ type: "end" }));
      setTimeout(() => this.socket.close(), END_TIMEOUT_MS);
    } else if (this.socket.readyState !== WebSocket.CONNECTING) {
      this.socket.close();
    }
  }

  received(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // not from this protocol: nothing to show
    }
    if (message.type === "ready") {
      this.ready = message;
      page.attempt[this.slot] = 0;
      showError("");
      showListening();
      // the server is back: the other session need not wait out its backoff
      const other = this.slot === "session" ? "translation" : "session";
      if (page.retry[other] && this === page[this.slot]) {
        clearTimeout(page.retry[other]);
        page.retry[other] = null;
        openSession(other);
      }
      const context = page.capture && page.capture.context;
      if (context && context.state === "suspended") context.onstatechange(); // say it waits
    } else if (message.type === "partial") {
      this.partial = message;
      const show = this.slot === "translation" ? showTranslationPartial : showPartial;
      show(message.committed, message.tentative);
    } else if (message.type === "final") {
      this.partial = null;
      this.lastEnd_s = message.end_s;
      if (this.slot === "translation") {
        showTranslationPartial("", "");
        placeTranslation(this.shifted(message));
      } else {
        showPartial("", "");
        addFinal(this.shifted(message));
      }
    } else if (message.type === "end") {
      this.gotEnd = true;
      this.socket.close();
    } else if (message.type === "error") {
      this.error = `The server refused: ${message.message} (${message.code})`;
      if (RETRYABLE.has(message.code) || this !== page[this.slot]) {
        showError(this.error);
      } else if (this.slot === "translation") {
        // it would refuse again: captions only, said until the next start (the captions' next
        // `ready` clears errors, not this), and no longer "translating into"
        page.translation = null;
        page.refusal = `${this.error}. Captions continue without translation.`;
        showError("");
        showListening();
      } else {
        stop(this.error); // it would refuse again: no reconnection
      }
    }
  }

  shifted(final) {
    // A final with its times (and its words') on the page's timeline.
    const at = (seconds) => seconds + this.offset_s;
    return {
      text: final.text,
      start_s: at(final.start_s),
      end_s: at(final.end_s),
      words: (final.words || []).map((w) => ({ ...w, start_s: at(w.start_s), end_s: at(w.end_s) })),
      translation: final.translation ?? null,
      lang: this.tgtLang,
      cut: false,
    };
  }

  closed(event) {
    page.sessions.delete(this);
    // The open segment will never get its final: keep what was heard (or its translation),
    // marked as cut off.
    const text = this.partial && !this.gotEnd
      ? [this.partial.committed, this.partial.tentative].filter(Boolean).join(" ")
      : "";
    const end_s = this.partial ? Math.max(this.partial.audio_s, this.lastEnd_s) : 0;
    const cut = text
      ? { ...this.shifted({ text, start_s: this.lastEnd_s, end_s, words: [] }), cut: true }
      : null;
    if (this.slot === "translation") {
      if (cut) placeTranslation(cut);
      // (a session that finishes after a language change leaves the new one's live line be)
      if (!page.translation || this === page.translation) showTranslationPartial("", "");
    } else if (this.partial && !this.gotEnd) {
      if (cut) addFinal(cut);
      showPartial("", "");
    }
    if (this === page[this.slot] && page.listening) {
      // (also after an `end`: a server shutting down ends every session and closes with 1001)
      page[this.slot] = null;
      // (a browser is not told why a websocket was refused: 401, 403 and 503 all look like 1006)
      const why =
        event.code === 1006
          ? "could not be reached, or refused the connection " +
            "(a missing or wrong ?token=, another origin, or full)"
          : `closed the connection (${event.code})`;
      reconnect(this.error ? `${this.error}.` : `The server ${why}.`, this.slot);
    } else if (!page.listening && page.sessions.size === 0) {
      setStatus("Stopped.");
    }
  }
}

function reconnect(reason, slot) {
  const delay = BACKOFF_S[Math.min(page.attempt[slot], BACKOFF_S.length - 1)];
  page.attempt[slot] += 1;
  showError(`${reason} Reconnecting in ${delay} s… (the transcript so far is kept)`);
  setStatus("Reconnecting…");
  page.retry[slot] = setTimeout(() => {
    page.retry[slot] = null;
    if (page.listening && page.capture) {
      setStatus("Connecting…");
      openSession(slot);
    }
  }, delay * 1000);
}

function openSession(slot) {
  // The captions' session, or the one translating beside it, for the language picked: with the
  // server's cascade (mt) where it has one for it, else its translation model beside.
  const lang = $("lang").value;
  const offer = page.languages[lang] || {};
  const rate = page.capture.context.sampleRate;
  if (slot === "session") {
    page.session = new Session(rate, slot, offer.mt ? { tgt_lang: lang, mt: offer.mt } : {});
  } else if (!offer.mt && offer.model) {
    page.translation = new Session(rate, slot, { tgt_lang: lang });
  }
}

async function loadLanguages() {
  // The target languages the server offers, in the language picker (none: it stays "none").
  let offered = {};
  try {
    const answer = await fetch(withToken("/v1/languages"));
    if (answer.ok) offered = (await answer.json()).languages;
  } catch {
    // an older server, or none: captions only
  }
  page.languages = offered;
  const select = $("lang");
  for (const [code, offer] of Object.entries(offered)) {
    const option = new Option(`${LANGUAGE_NAMES[code] || code} (${code})`, code);
    option.title = offer.mt ? `translated by ${offer.mt}` : `translated by ${offer.model}`;
    select.add(option);
  }
}

// --- the microphone --------------------------------------------------------------------------

function microphoneError(error) {
  if (!window.isSecureContext) {
    return (
      "The browser allows the microphone only on secure pages: " +
      "open this page over https, or on localhost."
    );
  }
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was refused. Allow it in the browser's site settings, then press Start.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone found. Connect one (or pick another), then press Start.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone could not be opened: another program may be using it.";
    default:
      return `The microphone could not be opened: ${error && error.message ? error.message : error}`;
  }
}

async function openCapture(deviceId) {
  // The microphone → worklet → ~100 ms PCM frames, at the context's own rate. Throws an Error
  // whose message is for the user.
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error(microphoneError(null)); // an insecure page has no mediaDevices
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        deviceId: deviceId ? { exact: deviceId } : undefined,
        channelCount: 1,
        echoCancellation: false, // the model wants the voice as spoken, not as processed
        noiseSuppression: false,
      },
    });
  } catch (error) {
    throw new Error(microphoneError(error));
  }
  const context = new AudioContext(); // its own rate: no resampling in the browser
  const close = () => {
    stream.getTracks().forEach((track) => track.stop());
    context.close();
  };
  if (!SAMPLE_RATES.includes(context.sampleRate)) {
    close();
    throw new Error(
      // (a context runs at the rate of the sound output device)
      `The browser's audio runs at ${context.sampleRate} Hz, which the server does not accept ` +
        `(${SAMPLE_RATES.join(", ")} Hz). Set the sound device to 48000 Hz in the system's ` +
        "sound settings, then press Start.",
    );
  }
  try {
    await context.audioWorklet.addModule("web/capture-worklet.js");
  } catch (error) {
    close();
    throw new Error(`The audio capture could not start: ${error.message}`);
  }
  const node = new AudioWorkletNode(context, "capture", { numberOfInputs: 1, numberOfOutputs: 0 });
  node.port.onmessage = (event) => {
    if (page.session) page.session.send(event.data);
    if (page.translation) page.translation.send(event.data);
    page.captured_s += event.data.byteLength / 2 / context.sampleRate;
  };
  context.createMediaStreamSource(stream).connect(node);
  const [track] = stream.getAudioTracks();
  track.onended = () => stop("The microphone was disconnected.");
  context.onstatechange = () => {
    if (context.state === "suspended" && page.listening) {
      setStatus("The browser holds the audio until you click: click anywhere on the page.");
    }
  };
  if (context.state === "suspended") {
    // autoplay policy: a context made without a click waits for one (kiosks: see the README)
    context.onstatechange();
    document.addEventListener("click", () => context.resume(), { once: true });
  }
  return { context, stream, node, close };
}

async function listDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const select = $("mic");
  const chosen = select.value;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const inputs = devices.filter((d) => d.kind === "audioinput");
  select.replaceChildren(new Option("Default microphone", ""));
  inputs
    .filter((d) => d.deviceId && d.deviceId !== "default")
    .forEach((d, i) => select.add(new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

// --- start and stop --------------------------------------------------------------------------

async function start() {
  if (page.listening) return;
  page.listening = true;
  page.attempt = { session: 0, translation: 0 };
  page.refusal = "";
  showError("");
  setToggle("Stop", true);
  setStatus("Opening the microphone…");
  try {
    page.capture = await openCapture($("mic").value);
  } catch (error) {
    page.listening = false;
    setToggle("Start", false);
    setStatus("Stopped.");
    showError(error.message);
    return;
  }
  listDevices(); // labels are only given after permission
  if (!page.listening) return stopCapture(); // stopped while the microphone opened
  setStatus("Connecting…");
  openSession("session");
  openSession("translation");
}

function stopCapture() {
  if (page.capture) page.capture.close();
  page.capture = null;
}

function stop(error) {
  // Stop listening; the current session still sends its last finals. `error`: why (shown).
  page.listening = false;
  for (const slot of ["session", "translation"]) {
    clearTimeout(page.retry[slot]);
    page.retry[slot] = null;
    if (page[slot]) page[slot].end();
    page[slot] = null;
  }
  stopCapture();
  setToggle("Start", false);
  setStatus(page.sessions.size ? "Finishing the last sentence…" : "Stopped.");
  if (error) showError(error);
}

async function restart() {
  // A new microphone or language needs a new session (and perhaps a new rate).
  if (!page.listening) return;
  stop();
  await start();
}

// --- the captions ----------------------------------------------------------------------------

function setStatus(text) {
  $("status").textContent = text;
}

function showListening() {
  const ready = (slot) => page[slot] && page[slot].ready;
  const captions = ready("session");
  if (!captions) return;
  let translating = "";
  if (captions.mt) translating = `, translating into ${captions.tgt_lang} (${captions.mt})`;
  const translation = ready("translation");
  if (translation) {
    const offer = page.languages[translation.tgt_lang] || {};
    translating = `, translating into ${translation.tgt_lang} (${offer.model || translation.model})`;
  }
  setStatus(`Listening — ${page.session.rate} Hz${translating}`);
}

function showError(text) {
  // `text`, or else the standing notices (a language asked for in the address but not offered;
  // a translation refused)
  const shown = text || [page.notice, page.refusal].filter(Boolean).join(" ");
  $("error").textContent = shown;
  $("error").hidden = !shown;
}

function setToggle(label, on) {
  $("toggle").textContent = label;
  $("toggle").classList.toggle("on", on);
}

function clock(seconds) {
  // 0:01.2, or 1:02:03.4 past an hour
  const tenths = Math.max(0, Math.round(seconds * 10));
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const s = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function nearBottom(element) {
  return element.scrollHeight - element.scrollTop - element.clientHeight < 40;
}

function following(change) {
  // Make `change` to the captions; if they were scrolled to the bottom, keep them there (every
  // change that grows them must come through here: one that grows them by more than
  // nearBottom's margin unfollowed would leave them behind for good).
  const region = $("captions");
  const follow = nearBottom(region);
  change();
  if (follow) region.scrollTop = region.scrollHeight;
}

function showPartial(committed, tentative) {
  following(() => {
    $("committed").textContent = committed;
    $("tentative").textContent = tentative ? (committed ? " " : "") + tentative : "";
  });
}

function showTranslationPartial(committed, tentative) {
  following(() => {
    $("translation-committed").textContent = committed;
    $("translation-tentative").textContent = tentative ? (committed ? " " : "") + tentative : "";
  });
}

function overlap(a, b) {
  return Math.min(a.end_s, b.end_s) - Math.max(a.start_s, b.start_s);
}

function placeTranslation(translated) {
  // Under the caption it overlaps most in time; until that caption's final has come, held.
  page.unplaced.push(translated);
  placeHeld();
}

function placeHeld() {
  page.unplaced = page.unplaced.filter((translated) => {
    const best = page.finals.reduce(
      (found, f) => (!found || overlap(f, translated) > overlap(found, translated) ? f : found),
      null,
    );
    if (best && overlap(best, translated) > 0) {
      best.translation = best.translation
        ? `${best.translation} ${translated.text}`
        : translated.text;
      best.lang = translated.lang;
      showTranslation(best);
      return false;
    }
    if (page.captionsEnd_s < translated.end_s) return true; // its caption may yet come
    // The captions have gone past it and none overlaps it (the captions' session was not
    // connected then, or heard nothing): a row of its own, not glued under an unrelated caption.
    insertFinal({ ...translated, text: "", words: [], translation: translated.text });
    return false;
  });
}

function showTranslation(final) {
  const item = items.get(final);
  if (!item || !final.translation) return;
  following(() => {
    let line = item.querySelector(".translation");
    if (!line) {
      line = document.createElement("span");
      line.className = "translation";
      item.append(line);
    }
    line.lang = final.lang;
    line.textContent = final.translation;
  });
}

function finalText(final) {
  // Its words as spans; those under LOW_CONFIDENCE marked, with the value as a tooltip. (The
  // words are the text's; when they do not line up, the text is shown as it is.)
  const text = document.createElement("span");
  text.className = "text";
  const tokens = final.text.split(/\s+/).filter(Boolean);
  if (final.words.length !== tokens.length) {
    text.textContent = final.text;
    return text;
  }
  tokens.forEach((token, i) => {
    const conf = final.words[i].conf;
    if (i) text.append(" ");
    if (typeof conf === "number" && conf < LOW_CONFIDENCE) {
      const word = document.createElement("span");
      word.className = "unsure";
      word.title = `confidence ${conf.toFixed(2)}`;
      word.textContent = token;
      text.append(word);
    } else {
      text.append(token);
    }
  });
  return text;
}

function addFinal(final) {
  page.captionsEnd_s = Math.max(page.captionsEnd_s, final.end_s);
  insertFinal(final);
  placeHeld();
}

function insertFinal(final) {
  // In time order: after the finals that start before it (a caption comes after them all; a
  // translation without a caption may come after later captions).
  let at = page.finals.length;
  while (at > 0 && page.finals[at - 1].start_s > final.start_s) at -= 1;
  page.finals.splice(at, 0, final);
  const item = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = `${clock(final.start_s)}–${clock(final.end_s)}`;
  item.append(time, finalText(final));
  if (final.cut) {
    item.classList.add("cut");
    item.title = "the connection dropped before this sentence was finished";
  }
  if (!final.text) item.title = "no caption came for this translation";
  items.set(final, item);
  showTranslation(final);
  const next = page.finals[at + 1];
  following(() => $("finals").insertBefore(item, next ? items.get(next) : null));
}

// --- exports (as s2t_stream/io/subtitles.py writes them) -------------------------------------

function inTimeOrder(finals) {
  return [...finals].sort((a, b) => a.start_s - b.start_s);
}

function timestamp(seconds, separator = ",") {
  // HH:MM:SS,mmm (WebVTT: separator ".")
  const ms = Math.max(0, Math.round(seconds * 1000));
  const two = (n) => String(n).padStart(2, "0");
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${two(h)}:${two(m)}:${two(s)}${separator}${String(ms % 1000).padStart(3, "0")}`;
}

function wrap(words) {
  const lines = [];
  for (const word of words) {
    if (lines.length && lines[lines.length - 1].length + 1 + word.length <= CUE_WIDTH) {
      lines[lines.length - 1] += " " + word;
    } else {
      lines.push(word);
    }
  }
  return lines;
}

function cues(finals) {
  // Each final's words in cues of at most CUE_LINES × CUE_WIDTH characters; short cues are
  // stretched to MIN_CUE_S, never over the next one.
  const out = [];
  const cue = (group) => ({
    start_s: group[0].start_s,
    end_s: group[group.length - 1].end_s,
    lines: wrap(group.map((w) => w.word)),
  });
  for (const final of inTimeOrder(finals)) {
    const whole = { word: final.text, start_s: final.start_s, end_s: final.end_s };
    const words = final.words.length ? final.words : [whole];
    let group = [];
    for (const word of words) {
      if (group.length && wrap([...group, word].map((w) => w.word)).length > CUE_LINES) {
        out.push(cue(group));
        group = [];
      }
      group.push(word);
    }
    if (group.some((w) => w.word)) out.push(cue(group));
  }
  out.forEach((c, i) => {
    const limit = i + 1 < out.length ? out[i + 1].start_s : Infinity;
    c.end_s = Math.max(c.end_s, Math.min(c.start_s + MIN_CUE_S, limit));
  });
  return out;
}

function toSrt(finals) {
  return cues(finals)
    .map((c, i) => `${i + 1}\n${timestamp(c.start_s)} --> ${timestamp(c.end_s)}\n${c.lines.join("\n")}\n`)
    .join("\n");
}

function toVtt(finals) {
  const blocks = cues(finals).map(
    (c) => `${timestamp(c.start_s, ".")} --> ${timestamp(c.end_s, ".")}\n${c.lines.join("\n")}\n`,
  );
  return "WEBVTT\n\n" + blocks.join("\n");
}

function toText(finals) {
  // `[HH:MM:SS] text` per final, its translation (if any) on the next line
  return inTimeOrder(finals)
    .filter((f) => f.text || f.translation) // (a translation without a caption: its own)
    .map((f) => {
      const line = `[${timestamp(f.start_s).slice(0, 8)}] ${f.text}\n`;
      return f.translation ? `${line}    ${f.translation}\n` : line;
    })
    .join("");
}

function download(extension, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = document.createElement("a");
  link.href = url;
  const now = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-"); // UTC
  link.download = `captions-${now}.${extension}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copyAll() {
  const text = toText(page.finals);
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no clipboard API (a page over plain http elsewhere than localhost): the old way
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  setStatus(`Copied ${page.finals.length} sentence${page.finals.length === 1 ? "" : "s"}.`);
}

// --- wiring ----------------------------------------------------------------------------------

window.s2tCaptions = {
  page, addFinal, placeTranslation, showTranslationPartial, reconnect, toSrt, toVtt, toText,
  clock,
}; // for tests and the console

document.addEventListener("DOMContentLoaded", () => {
  $("toggle").addEventListener("click", () => (page.listening ? stop() : start()));
  $("mic").addEventListener("change", restart);
  $("lang").addEventListener("change", () => {
    page.notice = "";
    showError("");
    restart();
  });
  $("copy").addEventListener("click", copyAll);
  $("txt").addEventListener("click", () => download("txt", toText(page.finals), "text/plain"));
  $("srt").addEventListener("click", () => download("srt", toSrt(page.finals), "application/x-subrip"));
  $("vtt").addEventListener("click", () => download("vtt", toVtt(page.finals), "text/vtt"));
  if (navigator.mediaDevices) navigator.mediaDevices.addEventListener("devicechange", listDevices);
  listDevices();
  loadLanguages().then(() => {
    const lang = params.get("lang");
    if (lang && lang in page.languages) {
      $("lang").value = lang;
    } else if (lang) {
      page.notice = `This server does not translate into ${lang}: captions only.`;
      showError("");
    }
    if (params.get("autostart") === "1") start();
  });
});
