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

    send(msg) {
      this.socket.send(JSON.stringify(msg));
    }

    stream(name) {
      return {
        send: (payload) => this.send({ stream: name, payload: payload }),
      };
    }
  }

  root.channels = root.channels || {};
  root.channels.WebSocketBridge = WebSocketBridge;
  root.channels.ReconnectingWebSocket = ReconnectingWebSocket;
})(typeof window !== "undefined" ? window : this);
