"""The Lua scripts of the Redis layer: each one atomic round trip.

See docs/topics/backends.rst, "How a message travels".

The hot path needs none: a send is one ``RPUSH`` (plus a ``PEXPIRE`` when
the push created the list, or when this process last renewed the list's
TTL a while ago) and a receive is one ``BLPOP``/``BLMPOP``. Scripts serve
the rare path of a send that finds its queue full, the group operations,
and non-blocking receives on Redis 6.

Data layout (all keys under the layer's ``prefix``; every key has a TTL):

* ``<prefix><queue>``: a list of messages for one queue; a queue is a
  channel name, or for process-specific channels the part up to and
  including ``!`` (one inbox per process). Each item is
  ``DEADLINE TARGETS "\\n" PAYLOAD``: 13 ASCII digits of the server time in
  ms after which the message is expired (the sender computes it from its
  estimate of the server's clock), then (``!`` queues only) the full
  channel names the message is for, comma-separated, then the encoded
  message. The message lives in the list itself, so popping it removes it:
  nothing is left behind.
* ``<prefix>group:<group>``: sorted set, member = channel, score = server
  time of the last ``group_add`` in ms. ``<prefix>groupcap:<group>``: hash,
  member -> its capacity (the client evaluates capacity patterns; Lua cannot).
  With several shards each shard holds the members whose queues it holds.
* ``<stats_prefix><queue>:<stat>`` and ``<stats_prefix>#global#:<stat>``:
  counters; ``...:<stat>@<unix second>``: per-second buckets kept 12 s.
  Sends count in the sending process and add their counts every second
  (:mod:`asgi_redis._stats`); group sends count inside their script.
* ``<prefix>leases``: sorted set, member = lease owner (a daphne's inbox
  name), score = server time in ms when its lease runs out.
  ``<prefix>lease:<owner>``: hash, reply channel -> lease entry (see
  :mod:`asgi._leases`); it expires a grace period after its deadline, so an
  owner nobody reaps leaves nothing behind (the ``leases`` extension).
  ``<prefix>lease-reaped:<owner>``: the hash of a lease a survivor claimed,
  kept for ``LEASE_REAPED_KEEP`` seconds so that an owner that was only cut
  off learns which of its sockets were reported gone.
* ``<prefix>processes``: sorted set, member = a process id (from its
  heartbeat record), score = server time in ms when its record runs out;
  ``<prefix>process-records``: hash, process id -> the record as JSON, on
  the shard the id hashes to. Both keys outlive the longest record they
  hold by ``HEARTBEAT_GRACE``; each heartbeat drops a few records that ran
  out (the ``inspect`` extension, :mod:`asgi_redis._inspect`).

Expiry is judged against the Redis server's clock (``TIME`` in scripts, an
offset measured every few minutes in clients), so clients on different
machines agree on what has expired.
"""

from __future__ import annotations

__all__ = [
    "COMMON",
    "FAN_OUT",
    "GROUP_ADD",
    "GROUP_CHANNELS",
    "GROUP_DISCARD",
    "HEARTBEAT",
    "LEASE_CLAIM",
    "LEASE_RENEW",
    "PRUNE",
    "QUEUE_HEADS",
    "RECEIVE",
    "SEND_FULL",
    "SEND_GROUP",
    "STAT_BUCKET_SECONDS",
]

#: How long a per-second statistics bucket lives.
STAT_BUCKET_SECONDS = 12

_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local second = t[1]

local function expired(item)
  return tonumber(string.sub(item, 1, 13)) <= now
end

-- Pop the expired head of a queue; true if anything expired.
local function trim(queue)
  local dropped = false
  while true do
    local head = redis.call('LINDEX', queue, 0)
    if not head or not expired(head) then return dropped end
    redis.call('LPOP', queue)
    dropped = true
  end
end

local function bump(base, stat, by, ttl)
  if base == '' then return end
  local key = base .. stat
  redis.call('INCRBY', key, by)
  redis.call('EXPIRE', key, ttl)
  key = key .. '@' .. second
  if redis.call('INCRBY', key, by) == by then redis.call('EXPIRE', key, STAT_BUCKET_SECONDS) end
end
""".replace("STAT_BUCKET_SECONDS", str(STAT_BUCKET_SECONDS))

#: SEND_FULL: the rare path of a send. A send is a plain ``RPUSH`` (one
#: command); when its reply shows the queue went past its capacity, this
#: script takes the item back, unless expired messages at the head make room
#: for it or a reader took it in the meantime.
#: KEYS[1]  the queue list
#: ARGV[1]  the item pushed     ARGV[2] capacity of the queue
#: ARGV[3]  queue key TTL (ms)
#: Returns 1 when the item stays queued (or was already received), 0 when
#: it was taken back: the queue is full.
SEND_FULL = (
    _COMMON
    + """
local queue = KEYS[1]
if redis.call('LREM', queue, -1, ARGV[1]) == 0 then return 1 end
trim(queue)
if redis.call('LLEN', queue) < tonumber(ARGV[2]) then
  redis.call('RPUSH', queue, ARGV[1])
  redis.call('PEXPIRE', queue, ARGV[3])
  return 1
end
return 0
"""
)

#: RECEIVE: pop the first unexpired message of the given queues (non-blocking).
#: KEYS     queue lists, in the order to try them
#: ARGV[1]  how many messages to take at most from a process inbox (a key
#:          ending in "!"): only its own process reads it, so it may batch
#: Returns {queue key, item, ...} (one item, or up to ARGV[1] from an
#: inbox), or nil when every queue is empty. Expired items are dropped.
RECEIVE = (
    _COMMON
    + """
local batch = tonumber(ARGV[1])
for _, queue in ipairs(KEYS) do
  local result = {queue}
  local wanted = 1
  if string.sub(queue, -1) == '!' then wanted = batch end
  while #result <= wanted do
    local item = redis.call('LPOP', queue)
    if not item then break end
    if not expired(item) then table.insert(result, item) end
  end
  if #result > 1 then return result end
end
return nil
"""
)

#: GROUP_ADD: add or refresh a member.
#: KEYS[1] group sorted set  KEYS[2] group capacity hash
#: ARGV[1] channel  ARGV[2] its capacity  ARGV[3] group_expiry (s)
#: Returns 1.
GROUP_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

#: GROUP_DISCARD: remove a member (no error when absent).
#: KEYS[1] group sorted set  KEYS[2] group capacity hash  ARGV[1] channel
#: Returns the number removed (0 or 1).
GROUP_DISCARD = """
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""

_PRUNE = """
local function remove_members(names)
  for i = 1, #names, 500 do
    local chunk = {unpack(names, i, math.min(i + 499, #names))}
    redis.call('ZREM', KEYS[1], unpack(chunk))
    redis.call('HDEL', KEYS[2], unpack(chunk))
  end
end

-- Drop members last added group_expiry ago or more.
local function prune(group_expiry_ms)
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - group_expiry_ms)
  if #old > 0 then remove_members(old) end
end
"""

#: GROUP_CHANNELS: the live members.
#: KEYS[1] group sorted set  KEYS[2] group capacity hash  ARGV[1] group_expiry (ms)
#: Returns the list of member channel names.
GROUP_CHANNELS = (
    _COMMON
    + _PRUNE
    + """
prune(tonumber(ARGV[1]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

#: The fan-out of SEND_GROUP, as two functions the history scripts share
#: (asgi_redis._history): ``fan_out_plan()`` reads what the fan-out will
#: write to, and ``fan_out(payload, plan)`` queues ``payload`` for every live
#: member on this shard and returns the number of copies queued. They read
#: KEYS[1], KEYS[2] and ARGV[2] to ARGV[10] as SEND_GROUP documents them.
#: Every member queue is read before anything is written: on a cluster
#: slot being migrated, a queue already moved fails the script ("non local
#: key") before it wrote anything but its pruning (which may be done twice),
#: so the layer can run it again at the new node. The statistics counts
#: are written with ``pcall``: one that cannot be made then is skipped.
FAN_OUT = """
local function fan_out_plan()
  local default_capacity = tonumber(ARGV[6])
  prune(tonumber(ARGV[4]))
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  local plan = {}
  if #members == 0 then return plan end
  local caps = {}
  for i = 1, #members, 500 do
    local got = redis.call('HMGET', KEYS[2], unpack(members, i, math.min(i + 499, #members)))
    for j = 1, #got do caps[i + j - 1] = tonumber(got[j]) or default_capacity end
  end
  local prefix = ARGV[2]
  local inboxes = {}
  for i, member in ipairs(members) do
    local bang = string.find(member, '!', 1, true)
    if bang then
      local queue = prefix .. string.sub(member, 1, bang)
      local inbox = inboxes[queue]
      if not inbox then
        inbox = {queue = queue, names = {}, capacity = caps[i], inbox = true}
        inboxes[queue] = inbox
        table.insert(plan, inbox)
      end
      table.insert(inbox.names, member)
    else
      table.insert(plan, {queue = prefix .. member, names = {member}, capacity = caps[i]})
    end
  end
  for _, target in ipairs(plan) do
    local head = redis.call('LINDEX', target.queue, 0)
    if head and expired(head) then
      target.expired = true
    elseif redis.call('LLEN', target.queue) >= target.capacity then
      target.full = true
    end
  end
  return plan
end

local function fan_out(payload, plan)
  if #plan == 0 then return 0 end
  local prefix = ARGV[2]
  local deadline = string.format('%013d', now + tonumber(ARGV[3]))
  local sent, evicted = 0, {}
  for _, target in ipairs(plan) do
    local queue = target.queue
    if target.expired then
      trim(queue)
      for _, name in ipairs(target.names) do table.insert(evicted, name) end
    elseif not target.full then
      local tags = target.inbox and table.concat(target.names, ',') or ''
      redis.call('RPUSH', queue, deadline .. tags .. '\\n' .. payload)
      redis.call('PEXPIRE', queue, ARGV[5])
      sent = sent + 1
      pcall(bump, ARGV[7] ~= '' and (ARGV[7] .. string.sub(queue, #prefix + 1) .. ':') or '',
            'messages_count', 1, ARGV[8])
    end
  end
  if #evicted > 0 then remove_members(evicted) end
  if sent > 0 then pcall(bump, ARGV[9], 'messages_count', sent, ARGV[10]) end
  return sent
end
"""

#: SEND_GROUP: deliver one message to every member on this shard.
#: KEYS[1] group sorted set  KEYS[2] group capacity hash
#: ARGV[1] payload   ARGV[2] key prefix   ARGV[3] message expiry (ms)
#: ARGV[4] group_expiry (ms)  ARGV[5] queue key TTL (ms)  ARGV[6] default capacity
#: ARGV[7] stats prefix ("" disables statistics)  ARGV[8] channel stats TTL (s)
#: ARGV[9] global stats base  ARGV[10] global stats TTL (s)
#: Members of one process ("name!local") share one copy in their process
#: inbox, tagged with all their names. A member whose queue holds a message
#: that expired unread is dropped from the group (its reader is gone); a
#: full member misses the message. Returns the number of copies queued.
SEND_GROUP = _COMMON + _PRUNE + FAN_OUT + "\nreturn fan_out(ARGV[1], fan_out_plan())\n"


#: LEASE_RENEW: write the changes to one owner's lease and push its deadline.
#: KEYS[1] the lease index (sorted set)  KEYS[2] the owner's lease hash
#: ARGV[1] owner   ARGV[2] lease TTL (ms)   ARGV[3] grace (ms) the hash and
#: the index outlive the deadline   ARGV[4] "1": the changes are the whole
#: lease (the hash is replaced), "0": they are changes since the last renewal
#: ARGV[5] n, the number of fields to remove, then n fields, then
#: field, value pairs to set.
#: Returns 1 when the owner held a lease before the call, 0 when it did not
#: (its first renewal, or its lease ran out and a survivor reaped it).
LEASE_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local index, lease, owner = KEYS[1], KEYS[2], ARGV[1]
local ttl, grace = tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('ZSCORE', index, owner) and 1 or 0
if ARGV[4] == '1' then redis.call('DEL', lease) end
local removed = tonumber(ARGV[5])
for i = 6, 5 + removed, 500 do
  redis.call('HDEL', lease, unpack(ARGV, i, math.min(i + 499, 5 + removed)))
end
for i = 6 + removed, #ARGV, 1000 do
  redis.call('HSET', lease, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('ZADD', index, now + ttl, owner)
redis.call('PEXPIRE', lease, ttl + grace)
if redis.call('PTTL', index) < ttl + grace then redis.call('PEXPIRE', index, ttl + grace) end
return held
"""

#: LEASE_CLAIM: take the leases that ran out, so exactly one caller gets each.
#: KEYS[1] the lease index (sorted set)
#: ARGV[1] the prefix of lease hashes ("<prefix>lease:")  ARGV[2] most leases
#: to take in one call  ARGV[3] the prefix of reaped-lease records
#: ("<prefix>lease-reaped:")  ARGV[4] how long (ms) a record is kept
#: Each lease taken leaves the index in the same atomic step, so two reapers
#: never both get it; its hash becomes the owner's reaped-lease record, which
#: tells an owner that was only cut off which of its sockets were reported
#: gone (lease_reaped).
#: Returns {{owner, {field, value, ...}}, ...}: one pair per lease taken
#: (fields empty when the hash had already expired).
LEASE_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owners = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local taken = {}
for _, owner in ipairs(owners) do
  redis.call('ZREM', KEYS[1], owner)
  local lease = ARGV[1] .. owner
  local entries = redis.call('HGETALL', lease)
  table.insert(taken, {owner, entries})
  if #entries > 0 then
    local record = ARGV[3] .. owner
    redis.call('RENAME', lease, record)
    redis.call('PEXPIRE', record, tonumber(ARGV[4]))
  end
end
return taken
"""

#: HEARTBEAT: store or renew one process's record, and drop a few that ran out.
#: KEYS[1] the process index (sorted set)  KEYS[2] the records hash
#: ARGV[1] process id   ARGV[2] the record (JSON)   ARGV[3] its TTL (ms)
#: ARGV[4] grace (ms) both keys outlive the record   ARGV[5] most records
#: that ran out to drop in this call (bounded work, however many died)
#: Returns the number of records dropped.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
local keep = ttl + tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
end
return #old
"""

#: QUEUE_HEADS: the length of each queue and the deadline of its head, for
#: inspection; reads only. The caller passes one scan batch of keys at a
#: time, so the work per call is bounded.
#: KEYS     queue lists
#: Returns {length, deadline, length, deadline, ...}, one pair per key in
#: order: the deadline is the 13 digits that start the head item, or ""
#: for an empty (or missing) queue; the payload never leaves the server.
QUEUE_HEADS = """
local result = {}
for _, queue in ipairs(KEYS) do
  local head = redis.call('LINDEX', queue, 0)
  table.insert(result, redis.call('LLEN', queue))
  table.insert(result, head and string.sub(head, 1, 13) or '')
end
return result
"""

#: The shared preamble (server time, expiry test, trim, statistics) and the
#: member pruning, for scripts built in other modules (asgi_redis._history).
COMMON = _COMMON
PRUNE = _PRUNE
