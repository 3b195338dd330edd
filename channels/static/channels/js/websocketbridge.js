/*
 * channels-classic WebSocketBridge: the browser side of a Channels 1.x site.
 *
 * Plain ES2017, served by django.contrib.staticfiles; no build step. Defines
 * `window.channels.WebSocketBridge` (the 1.x API: connect, listen,
 * demultiplex, send, stream, socket) over a WebSocket that reconnects by
 * itself with exponential backoff and jitter. Messages sent while the socket
 * is down are queued and flushed, in order, once it is open again.
 */
(function (root) {
  "use strict";

  const DEFAULTS = {
    minReconnectionDelay: 500, // ms before the first retry
    maxReconnectionDelay: 10000, // ms, the backoff ceiling
    reconnectionDelayGrowFactor: 1.5,
    jitter: 0.3, // a retry waits delay * (1 +/- jitter)
    connectionTimeout: 5000, // ms to wait for an open before retrying
    maxRetries: Infinity,
    maxQueuedMessages: 1000, // older queued messages are dropped past this
  };

  const EVENTS = ["open", "close", "message", "error"];

  /* A WebSocket look-alike that reopens itself when the connection drops. */
  class ReconnectingWebSocket {
    constructor(url, protocols, options) {
      this.url = url;
      this.protocols = protocols;
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.listeners = {};
      EVENTS.forEach((name) => {
        this.listeners[name] = [];
        this["on" + name] = null;
      });
      this.queue = [];
      this.retries = 0;
      this.closedByUser = false;
      this.ws = null;
      this.reconnectTimer = null;
      this.openTimer = null;
      this.open();
    }

    get readyState() {
      return this.ws ? this.ws.readyState : WebSocket.CLOSED;
    }

    get protocol() {
      return this.ws ? this.ws.protocol : "";
    }

    addEventListener(name, listener) {
      if (this.listeners[name] && this.listeners[name].indexOf(listener) < 0) {
        this.listeners[name].push(listener);
      }
    }

    removeEventListener(name, listener) {
      if (this.listeners[name]) {
        this.listeners[name] = this.listeners[name].filter((l) => l !== listener);
      }
    }

    dispatch(name, event) {
      this.listeners[name].slice().forEach((listener) => listener.call(this, event));
      const handler = this["on" + name];
      if (typeof handler === "function") {
        handler.call(this, event);
      }
    }

    open() {
      const ws = this.protocols ? new WebSocket(this.url, this.protocols) : new WebSocket(this.url);
      this.ws = ws;
      this.openTimer = setTimeout(() => ws.close(), this.options.connectionTimeout);
      ws.onopen = (event) => {
        clearTimeout(this.openTimer);
        this.retries = 0;
        this.dispatch("open", event);
        this.flush();
      };
      ws.onmessage = (event) => this.dispatch("message", event);
      ws.onerror = (event) => this.dispatch("error", event);
      ws.onclose = (event) => {
        clearTimeout(this.openTimer);
        if (this.ws !== ws) {
          return;
        }
        this.dispatch("close", event);
        if (!this.closedByUser && this.retries < this.options.maxRetries) {
          this.scheduleReconnect();
        }
      };
    }

    scheduleReconnect() {
      const o = this.options;
      const base = Math.min(
        o.maxReconnectionDelay,
        o.minReconnectionDelay * Math.pow(o.reconnectionDelayGrowFactor, this.retries)
      );
      const delay = base * (1 + o.jitter * (2 * Math.random() - 1));
      this.retries += 1;
      this.reconnectTimer = setTimeout(() => this.open(), delay);
    }

    flush() {
      while (this.queue.length && this.readyState === WebSocket.OPEN) {
        this.ws.send(this.queue.shift());
      }
    }

    send(data) {
      if (this.readyState === WebSocket.OPEN && this.queue.length === 0) {
        this.ws.send(data);
        return;
      }
      this.queue.push(data);
      if (this.queue.length > this.options.maxQueuedMessages) {
        this.queue.shift();
      }
      this.flush();
    }

    /* Close for good: no reconnection after this. */
    close(code, reason) {
      this.closedByUser = true;
      clearTimeout(this.reconnectTimer);
      if (this.ws) {
        this.ws.close(code || 1000, reason);
      }
    }

    /* Drop the current connection and reconnect (as after a network fault). */
    refresh() {
      if (this.ws) {
        this.ws.close(4000, "refresh");
      }
    }
  }

  /* Build an absolute ws:// or wss:// URL from nothing, a path or a URL. */
  function resolveUrl(url) {
    const loc = root.location;
    const scheme = loc.protocol === "https:" ? "wss" : "ws";
    if (url === undefined || url === null || url === "") {
      return scheme + "://" + loc.host + "/";
    }
    if (url.charAt(0) === "/") {
      return scheme + "://" + loc.host + url;
    }
    return url;
  }

  /*
   * Group history and resume after reconnect (docs/topics/history.rst).
   *
   * Frames of a group that keeps history arrive as
   * {"history": {"group", "offset"}, "text": "<the frame>"}. The tracker
   * remembers the last offset per group, drops frames it has already seen,
   * and hands the inner text on as if it had been the frame. When the socket
   * drops, the next connection's URL gets channels_history=group:offset,...;
   * until the server's resume frames ({"history": {"group", "after", "last",
   * "gap", "more"}, "missed": [[offset, text], ...]}) have arrived, live frames
   * of those groups wait, so the missed ones come first and all in order.
   */
  const HISTORY_PARAMETER = "channels_history";

  class HistoryTracker {
    constructor(bridge) {
      this.bridge = bridge;
      this.last = {}; // group -> last offset handed on
      this.waiting = {}; // group -> [[offset, text], ...] while resuming
      this.gapCallbacks = [];
      this.baseUrl = null;
      this.resumeTimer = null;
    }

    attach(socket) {
      this.baseUrl = socket.url;
      socket.addEventListener("close", () => {
        socket.url = this.resumeUrl(); // read by the next reconnection
      });
      socket.addEventListener("open", () => this.startResume(socket));
    }

    resumeUrl() {
      const pairs = Object.keys(this.last).map((group) => group + ":" + this.last[group]);
      if (pairs.length === 0) {
        return this.baseUrl;
      }
      const separator = this.baseUrl.indexOf("?") >= 0 ? "&" : "?";
      return this.baseUrl + separator + HISTORY_PARAMETER + "=" + pairs.join(",");
    }

    startResume(socket) {
      const groups = socket.url === this.baseUrl ? [] : Object.keys(this.last);
      groups.forEach((group) => {
        this.waiting[group] = this.waiting[group] || [];
      });
      clearTimeout(this.resumeTimer);
      if (groups.length) {
        // A server that does not resume must not hold live frames forever.
        const timeout = this.bridge.options.historyResumeTimeout || 5000;
        this.resumeTimer = setTimeout(() => {
          Object.keys(this.waiting).forEach((group) => {
            this.gap(group, { after: this.last[group], last: null, timedOut: true });
            this.finish(group);
          });
        }, timeout);
      }
    }

    /* Handle a history frame (true), or leave any other frame alone (false). */
    handle(msg) {
      const head = msg !== null && typeof msg === "object" ? msg.history : null;
      if (head === null || typeof head !== "object" || typeof head.group !== "string") {
        return false;
      }
      if (typeof head.offset === "number" && typeof msg.text === "string") {
        if (this.waiting[head.group]) {
          this.waiting[head.group].push([head.offset, msg.text]);
        } else {
          this.deliver(head.group, head.offset, msg.text);
        }
        return true;
      }
      if (typeof head.after === "number" && Array.isArray(msg.missed)) {
        const waiting = (this.waiting[head.group] = this.waiting[head.group] || []);
        msg.missed.forEach((entry) => waiting.push(entry));
        if (!head.more) {
          if (head.gap) {
            this.gap(head.group, { after: head.after, last: head.last, timedOut: false });
          }
          this.finish(head.group);
        }
        return true;
      }
      return false;
    }

    finish(group) {
      const frames = (this.waiting[group] || []).slice().sort((a, b) => a[0] - b[0]);
      delete this.waiting[group];
      if (Object.keys(this.waiting).length === 0) {
        clearTimeout(this.resumeTimer);
      }
      frames.forEach((entry) => this.deliver(group, entry[0], entry[1]));
    }

    deliver(group, offset, text) {
      const last = this.last[group];
      if (last !== undefined && offset <= last) {
        return; // seen already: a copy from both the history and the live group
      }
      this.last[group] = offset;
      const onmessage = this.bridge.socket.onmessage;
      if (typeof onmessage === "function") {
        onmessage.call(this.bridge.socket, { data: text }); // as if it were the frame
      }
    }

    gap(group, detail) {
      this.gapCallbacks.forEach((cb) => cb(group, detail));
    }
  }

  class WebSocketBridge {
    constructor(options) {
      this.options = options || {};
      this.socket = null;
      this.streams = {};
      this.default_cb = null;
    }

    /* Open the connection; `url` may be omitted (this host) or start with "/". */
    connect(url, protocols, options) {
      const socketOptions = Object.assign({}, this.options, options || {});
      this.socket = new ReconnectingWebSocket(resolveUrl(url), protocols, socketOptions);
      this.historyTracker = this.historyTracker || new HistoryTracker(this);
      this.historyTracker.attach(this.socket);
      return this;
    }

    /* Route incoming frames: multiplexed ones to their stream, the rest to `cb`. */
    listen(cb) {
      this.default_cb = cb || null;
      this.socket.onmessage = (event) => {
        let msg;
        try {
          msg = JSON.parse(event.data);
        } catch (error) {
          return; // not JSON: not a bridge message
        }
        if (this.historyTracker && this.historyTracker.handle(msg)) {
          return; // a group history frame: its inner frame comes back through here
        }
        msg = this._realtimeFrame(msg); // presence, acks, replies (below)
        if (msg === undefined) {
          return;
        }
        if (msg !== null && typeof msg === "object" && "stream" in msg) {
          const handler = this.streams[msg.stream];
          if (handler) {
            handler(msg.payload, msg.stream);
          }
        } else if (this.default_cb) {
          this.default_cb(msg, null);
        }
      };
      return this;
    }

    demultiplex(stream, cb) {
      this.streams[stream] = cb;
      return this;
    }

    /* Send `msg` as JSON; with `{ack: true}` returns a Promise of the reply. */
    send(msg, options) {
      if (options && options.ack) {
        return this._request(msg, null, options);
      }
      this.socket.send(JSON.stringify(msg));
    }

    /* Call cb(group, {after, last, timedOut}) when a resume could not recover
       everything missed in a group (its history no longer reached back). */
    onHistoryGap(cb) {
      this.historyTracker = this.historyTracker || new HistoryTracker(this);
      this.historyTracker.gapCallbacks.push(cb);
      return this;
    }

    stream(name) {
      return {
        send: (payload, options) =>
          options && options.ack
            ? this._request(payload, name, options)
            : this.send({ stream: name, payload: payload }),
      };
    }
  }

  /*
   * Presence and acknowledged sends (docs/topics/realtime.rst has the wire
   * format). Kept apart from the class body above: it only adds methods.
   */
  const ACK_TIMEOUT = 10000; // ms a send(data, {ack: true}) waits for its reply

  /* The members of one presence, kept in step by state and diff frames. */
  class PresenceChannel {
    constructor(bridge, name) {
      this.bridge = bridge;
      this.name = name;
      this.state = {};
      this.callbacks = { join: [], leave: [], sync: [] };
      this.heartbeat = null;
    }

    onJoin(cb) {
      this.callbacks.join.push(cb);
      return this;
    }

    onLeave(cb) {
      this.callbacks.leave.push(cb);
      return this;
    }

    onSync(cb) {
      this.callbacks.sync.push(cb);
      return this;
    }

    /* The members: [{key, metas: [...]}, ...] sorted by key. */
    list() {
      return Object.keys(this.state)
        .sort()
        .map((key) => ({ key: key, metas: this.state[key].metas.slice() }));
    }

    fire(name, ...args) {
      this.callbacks[name].forEach((cb) => cb(...args));
    }

    apply(msg) {
      if (msg.state) {
        this.state = {};
        Object.keys(msg.state).forEach((key) => {
          this.state[key] = { metas: msg.state[key].metas.slice() };
        });
        this.startHeartbeat(msg.ttl);
      }
      Object.keys(msg.joins || {}).forEach((key) => this.join(key, msg.joins[key].metas));
      Object.keys(msg.leaves || {}).forEach((key) => this.leave(key, msg.leaves[key].metas));
      this.fire("sync", this.list());
    }

    join(key, metas) {
      const entry = this.state[key] || { metas: [] };
      const added = metas.filter((meta) => !entry.metas.some((m) => m.ref === meta.ref));
      if (added.length) {
        const before = this.state[key];
        entry.metas = entry.metas.concat(added);
        this.state[key] = entry;
        this.fire("join", key, before, added);
      }
    }

    leave(key, metas) {
      const entry = this.state[key];
      if (!entry) {
        return;
      }
      const refs = metas.map((meta) => meta.ref);
      const left = entry.metas.filter((meta) => refs.indexOf(meta.ref) >= 0);
      entry.metas = entry.metas.filter((meta) => refs.indexOf(meta.ref) < 0);
      if (!entry.metas.length) {
        delete this.state[key];
      }
      if (left.length) {
        this.fire("leave", key, this.state[key], left);
      }
    }

    /* Renew this socket's membership every ttl / 3 seconds. */
    startHeartbeat(ttl) {
      clearInterval(this.heartbeat);
      const every = Math.max(1000, (ttl * 1000) / 3);
      this.heartbeat = setInterval(() => {
        if (this.bridge.socket.readyState === WebSocket.OPEN) {
          this.bridge.send({ presence: this.name, heartbeat: true });
        }
      }, every);
    }
  }

  Object.assign(WebSocketBridge.prototype, {
    /* The presence `name`: `.onJoin(cb)`, `.onLeave(cb)`, `.onSync(cb)`, `.list()`. */
    presence(name) {
      this.presences = this.presences || {};
      if (!this.presences[name]) {
        this.presences[name] = new PresenceChannel(this, name);
      }
      this._ensureListening();
      return this.presences[name];
    },

    _ensureListening() {
      if (!this.socket.onmessage) {
        this.listen(this.default_cb || undefined);
      }
    },

    /* Send `payload` (on `stream`, or plain) as a request; a Promise of the reply. */
    _request(payload, stream, options) {
      this.pendingRequests = this.pendingRequests || {};
      this.requestCounter = (this.requestCounter || 0) + 1;
      const id = "r" + this.requestCounter + "-" + Math.random().toString(36).slice(2, 10);
      const frame = { payload: payload, request: id };
      if (stream !== null) {
        frame.stream = stream;
      }
      this._ensureListening();
      const timeout = options.timeout || this.options.ackTimeout || ACK_TIMEOUT;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          delete this.pendingRequests[id];
          reject(new Error("no reply to request " + id + " within " + timeout + " ms"));
        }, timeout);
        this.pendingRequests[id] = { resolve: resolve, reject: reject, timer: timer };
        this.socket.send(JSON.stringify(frame));
      });
    },

    /* Our frames are handled here (undefined: nothing left to dispatch);
     * a frame asking for an ack is acked and dispatched as its payload. */
    _realtimeFrame(msg) {
      if (msg === null || typeof msg !== "object") {
        return msg;
      }
      if (typeof msg.presence === "string" && ("state" in msg || "joins" in msg)) {
        const presence = this.presences && this.presences[msg.presence];
        if (presence) {
          presence.apply(msg);
        }
        return undefined;
      }
      if (typeof msg.reply === "string" && ("payload" in msg || "error" in msg)) {
        const pending = this.pendingRequests && this.pendingRequests[msg.reply];
        if (pending) {
          delete this.pendingRequests[msg.reply];
          clearTimeout(pending.timer);
          if ("error" in msg) {
            pending.reject(new Error(msg.error));
          } else {
            pending.resolve(msg.payload);
          }
        }
        return undefined;
      }
      if (typeof msg.ack_request === "string" && "payload" in msg) {
        this.socket.send(JSON.stringify({ ack: msg.ack_request }));
        return "stream" in msg ? { stream: msg.stream, payload: msg.payload } : msg.payload;
      }
      return msg;
    },
  });

  root.channels = root.channels || {};
  root.channels.WebSocketBridge = WebSocketBridge;
  root.channels.ReconnectingWebSocket = ReconnectingWebSocket;
  root.channels.PresenceChannel = PresenceChannel;
})(typeof window !== "undefined" ? window : this);
