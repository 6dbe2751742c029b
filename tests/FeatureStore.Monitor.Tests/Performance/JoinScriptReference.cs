// The label join's script as it was before the store's per-record work was cut (fewer calls per record, keys built
// once per batch): the reference the current script must match record for record, state for state.
namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>The join script of the first release of the label join, kept as the reference semantics.</summary>
internal static class JoinScriptReference
{
    /// <summary>The script, taking the arguments <see cref="FeatureStore.Monitor.Performance.JoinScript.Source"/> takes.</summary>
    public const string Source = """
        local offsets = KEYS[1]
        local counters = KEYS[2]
        local J = ARGV[1]
        local horizon = tonumber(ARGV[2])
        local B = tonumber(ARGV[3])
        local grace = tonumber(ARGV[4])
        local coverage = tonumber(ARGV[5])
        local ttl = ARGV[6]
        local ptopic, ltopic = ARGV[7], ARGV[8]
        local M = tonumber(ARGV[9])
        local wms, cap, keep, regression = {}, {}, {}, {}
        local at = 10
        for m = 1, M do
          wms[m] = tonumber(ARGV[at]); cap[m] = tonumber(ARGV[at + 1])
          keep[m] = string.sub(ARGV[at + 2], 1, 1) == 's'
          regression[m] = string.sub(ARGV[at + 2], 2, 2) == 'r'
          at = at + 3
        end
        local count = tonumber(ARGV[at]); at = at + 1
        local stateKey = J .. ':state'
        local partsKey = J .. ':parts'
        local NONE = -9e15
        -- Per partition { end offset, largest event time applied }.
        local parts = {}
        local raw = redis.call('HGETALL', partsKey)
        for i = 1, #raw, 2 do
          local s = raw[i + 1]
          local sp = string.find(s, ' ', 1, true)
          parts[raw[i]] = { tonumber(string.sub(s, 1, sp - 1)), tonumber(string.sub(s, sp + 1)) }
        end
        local function touch(part, t)
          local s = parts[part]
          if s == nil then parts[part] = { -1, t } elseif t > s[2] then s[2] = t end
        end
        -- The watermarks as of the start of the batch; each record applied moves its partition's time forward.
        local wp, wl = NONE, NONE
        local pending = tonumber(redis.call('HGET', counters, 'pending')) or 0
        local floors = {}
        local delta = { joined = 0, duplicate = 0, late = 0, unmatched = 0, pending = 0, too_late = 0, duplicate_prediction = 0, applied = 0 }

        local function fmt(x) return string.format('%.0f', x) end
        local function floor(t, size) return t - (t % size) end
        local function window(version, m, t) return J .. ':w:' .. version .. ':' .. m .. ':' .. fmt(floor(t, wms[m])) end

        local function parse(record)
          local nl1 = string.find(record, '\n', 1, true)
          local nl2 = string.find(record, '\n', nl1 + 1, true)
          local entries = {}
          local pos = nl2 + 1
          for m = 1, M do
            local e = string.find(record, '\n', pos + 9, true)
            entries[m] = { string.sub(record, pos, pos), string.sub(record, pos + 1, pos + 8), string.sub(record, pos + 9, e - 1) }
            pos = e + 1
          end
          return tonumber(string.sub(record, 1, nl1 - 1)), string.sub(record, nl1 + 1, nl2 - 1), entries
        end

        -- Per batch, each window touched: its state and segment count as read once, and the counts and bytes the
        -- batch adds, written once after the records (one call per window and key, not per record).
        local W = {}
        local function win(w)
          local c = W[w]
          if c == nil then
            local st = redis.call('HMGET', w, 'state', 'segs')
            c = { state = st[1], segs = tonumber(st[2]) or 0, dsegs = 0, seen = {}, n = 0, l = 0, sn = {}, sl = {} }
            W[w] = c
          end
          return c
        end
        local appends = {}
        local function append(key, bytes)
          local a = appends[key]
          if a == nil then a = {}; appends[key] = a end
          a[#a + 1] = bytes
        end
        local expiring = {}
        -- The buckets of pending labels: those stored, read once per batch when a prediction first looks for its
        -- label, and those this batch opened.
        local lbuckets = {}
        local lloaded = false

        -- Adds a label to the windows its prediction counted in; false when it joins none (late).
        local function join(t, version, entries, label, lt)
          if lt - t > horizon then
            delta.late = delta.late + 1
            return false
          end
          local any = false
          for m = 1, M do
            local e = entries[m]
            if e[1] == '+' then
              local w = window(version, m, t)
              local c = win(w)
              if c.state == 'open' then
                any = true
                local pair = e[2] .. (regression[m] and string.sub(label, 2, 9) or string.sub(label, 1, 1))
                c.l = c.l + 1
                append(w .. ':p', pair)
                if e[3] ~= '' then
                  c.sl[e[3]] = (c.sl[e[3]] or 0) + 1
                  append(w .. ':p:' .. e[3], pair)
                end
              end
            end
          end
          if any then delta.joined = delta.joined + 1 else delta.late = delta.late + 1 end
          return any
        end

        local function predict(id, t, version, payload)
          local b = floor(t, B)
          local pkey = J .. ':p:' .. fmt(b)
          if redis.call('HEXISTS', pkey, id) == 1 then
            delta.duplicate_prediction = delta.duplicate_prediction + 1
            return
          end
          local parts = { fmt(t), '\n', version, '\n' }
          local entries = {}
          local pos = 1
          for m = 1, M do
            local score = string.sub(payload, pos, pos + 7)
            local e = string.find(payload, '\n', pos + 8, true)
            local seg = string.sub(payload, pos + 8, e - 1)
            pos = e + 1
            local flag = '-'
            local start = floor(t, wms[m])
            -- A window at or below the newest one evaluated and swept of its monitor is gone: too late to count in it.
            local fkey = 'floor:' .. version .. ':' .. m
            if floors[fkey] == nil then floors[fkey] = tonumber(redis.call('HGET', stateKey, fkey)) or -9e15 end
            if start + wms[m] > floors[fkey] then
              local w = window(version, m, t)
              local c = win(w)
              if not c.state then
                c.state = 'open'
                redis.call('HSET', w, 'state', 'open', 'version', version, 'monitor', m, 'start', fmt(start), 'end', fmt(start + wms[m]), 'n', 0, 'l', 0, 'segs', 0)
                redis.call('ZADD', J .. ':open', start + wms[m], w)
              end
              if c.state == 'open' then
                flag = '+'
                if seg ~= '' then
                  local known = c.seen[seg]
                  if known == nil then
                    known = redis.call('HEXISTS', w, 'n:' .. seg) == 1
                    if not known then
                      if c.segs < cap[m] then
                        c.segs = c.segs + 1
                        c.dsegs = c.dsegs + 1
                        known = true
                      end
                    end
                    c.seen[seg] = known
                  end
                  if not known then seg = 'other' end
                end
                c.n = c.n + 1
                if seg ~= '' then c.sn[seg] = (c.sn[seg] or 0) + 1 end
                if keep[m] then
                  append(w .. ':s', score)
                  if seg ~= '' then append(w .. ':s:' .. seg, score) end
                end
              end
            end
            if flag == '-' then delta.too_late = delta.too_late + 1 end
            entries[m] = { flag, score, seg }
            parts[#parts + 1] = flag .. score .. seg .. '\n'
          end
          local record = table.concat(parts)
          if pending > 0 then
            if not lloaded then
              lloaded = true
              for _, key in ipairs(redis.call('ZRANGE', J .. ':lb', 0, -1)) do lbuckets[key] = true end
            end
            for lb = floor(t - B, B), t + horizon + grace, B do
              local lkey = J .. ':l:' .. fmt(lb)
              local v = lbuckets[lkey] and redis.call('HGET', lkey, id)
              if v then
                redis.call('HDEL', lkey, id)
                pending = pending - 1
                delta.pending = delta.pending - 1
                local nl = string.find(v, '\n', 1, true)
                if join(t, version, entries, string.sub(v, nl + 1), tonumber(string.sub(v, 1, nl - 1))) then
                  record = '!' .. record
                end
                break
              end
            end
          end
          redis.call('HSET', pkey, id, record)
          expiring[pkey] = { J .. ':pb', b }
        end

        -- A label's prediction is most often in the bucket of the label's time or the few before it: looked for
        -- there first, then back to label time - horizon - grace, then one bucket after the label.
        local function label(id, lt, value)
          local from = floor(lt - horizon - grace, B)
          local newest = floor(lt, B)
          local b = newest
          while true do
            local pkey = J .. ':p:' .. fmt(b)
            local record = redis.call('HGET', pkey, id)
            if record then
              if string.sub(record, 1, 1) == '!' then
                delta.duplicate = delta.duplicate + 1
              else
                local t, version, entries = parse(record)
                if join(t, version, entries, value, lt) then
                  redis.call('HSET', pkey, id, '!' .. record)
                end
              end
              return
            end
            if b == newest + B then break end
            b = b - B
            if b < from then b = newest + B end
          end
          local lkey = J .. ':l:' .. fmt(newest)
          if redis.call('HSETNX', lkey, id, fmt(lt) .. '\n' .. value) == 1 then
            pending = pending + 1
            delta.pending = delta.pending + 1
            expiring[lkey] = { J .. ':lb', newest }
            lbuckets[lkey] = true
          else
            delta.duplicate = delta.duplicate + 1
          end
        end

        local stored = {}
        for _ = 1, count do
          local rkind, part, offset = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
          local nxt = stored[part]
          if nxt == nil then
            nxt = tonumber(redis.call('HGET', offsets, part)) or -1
          end
          if offset >= nxt then
            if rkind == 'p' then
              local t = tonumber(ARGV[at + 4])
              predict(ARGV[at + 3], t, ARGV[at + 5], ARGV[at + 6])
              touch(part, t)
            elseif rkind == 'l' then
              local t = tonumber(ARGV[at + 4])
              label(ARGV[at + 3], t, ARGV[at + 5])
              touch(part, t)
            end
            delta.applied = delta.applied + 1
            nxt = offset + 1
          end
          stored[part] = nxt
          at = at + 7
        end
        for part, nxt in pairs(stored) do
          if nxt >= 0 then redis.call('HSET', offsets, part, fmt(nxt)) end
        end
        for w, c in pairs(W) do
          if c.n ~= 0 then redis.call('HINCRBY', w, 'n', c.n) end
          if c.l ~= 0 then redis.call('HINCRBY', w, 'l', c.l) end
          if c.dsegs ~= 0 then redis.call('HINCRBY', w, 'segs', c.dsegs) end
          for seg, d in pairs(c.sn) do redis.call('HINCRBY', w, 'n:' .. seg, d) end
          for seg, d in pairs(c.sl) do redis.call('HINCRBY', w, 'l:' .. seg, d) end
        end
        for key, a in pairs(appends) do redis.call('RPUSH', key, table.concat(a)) end
        for key, index in pairs(expiring) do
          redis.call('PEXPIRE', key, ttl)
          redis.call('ZADD', index[1], index[2], key)
        end
        local ends = tonumber(ARGV[at]); at = at + 1
        for _ = 1, ends do
          local part, high = ARGV[at], tonumber(ARGV[at + 1])
          local s = parts[part]
          if s == nil then parts[part] = { high, NONE } elseif high > s[1] then s[1] = high end
          at = at + 2
        end

        local function watermark(topic)
          local newest, held = NONE, 9e15
          for part, s in pairs(parts) do
            if string.match(part, '^(.*):%d+$') == topic then
              if s[2] > newest then newest = s[2] end
              local nxt = stored[part]
              if nxt == nil then nxt = tonumber(redis.call('HGET', offsets, part)) or -1 end
              if nxt < s[1] and s[2] < held then held = s[2] end
            end
          end
          return math.min(newest, held)
        end
        for part, s in pairs(parts) do redis.call('HSET', partsKey, part, fmt(s[1]) .. ' ' .. fmt(s[2])) end
        wp = watermark(ptopic)
        wl = watermark(ltopic)
        redis.call('HSET', stateKey, 'wp', fmt(wp), 'wl', fmt(wl))

        local function close(w, by)
          local finish = redis.call('HGET', w, 'end')
          redis.call('HSET', w, 'state', 'closing', 'closed_by', by)
          redis.call('ZREM', J .. ':open', w)
          redis.call('ZADD', J .. ':closing', finish, w)
        end
        local limit = math.min(wl - horizon, wp)
        for _, w in ipairs(redis.call('ZRANGEBYSCORE', J .. ':open', '-inf', fmt(limit))) do close(w, 'horizon') end
        if coverage then
          -- Only windows the predictions are past: labels read ahead of their predictions (a backlog) would otherwise
          -- cover the few predictions read so far and close the window before the rest of it arrives.
          for _, w in ipairs(redis.call('ZRANGEBYSCORE', J .. ':open', '-inf', fmt(wp))) do
            local nl = redis.call('HMGET', w, 'n', 'l')
            local n, l = tonumber(nl[1]), tonumber(nl[2])
            if n > 0 and l >= coverage * n then close(w, 'coverage') end
          end
        end

        -- Sweeps, by event time, where both streams are past: a prediction bucket once predictions and labels passed
        -- its end + horizon + grace; a pending bucket (its labels counted unmatched) once the predictions passed its
        -- end + one bucket; an evaluated window once both passed its end + horizon + grace (its monitor's floor
        -- moves to its end, so a prediction that late does not open it again).
        local both = math.min(wp, wl)
        for _, key in ipairs(redis.call('ZRANGEBYSCORE', J .. ':pb', '-inf', fmt(both - horizon - grace - B))) do
          redis.call('DEL', key)
          redis.call('ZREM', J .. ':pb', key)
        end
        for _, key in ipairs(redis.call('ZRANGEBYSCORE', J .. ':lb', '-inf', fmt(wp - 2 * B))) do
          local n = redis.call('HLEN', key)
          delta.unmatched = delta.unmatched + n
          delta.pending = delta.pending - n
          redis.call('DEL', key)
          redis.call('ZREM', J .. ':lb', key)
        end
        for _, w in ipairs(redis.call('ZRANGEBYSCORE', J .. ':done', '-inf', fmt(both - horizon - grace))) do
          local meta = redis.call('HMGET', w, 'version', 'monitor', 'end')
          if meta[1] then
            local fkey = 'floor:' .. meta[1] .. ':' .. meta[2]
            if (tonumber(redis.call('HGET', stateKey, fkey)) or -9e15) < tonumber(meta[3]) then
              redis.call('HSET', stateKey, fkey, meta[3])
            end
          end
          redis.call('DEL', w)
          redis.call('ZREM', J .. ':done', w)
        end

        for _, field in ipairs({ 'joined', 'duplicate', 'late', 'unmatched', 'pending', 'too_late', 'duplicate_prediction' }) do
          if delta[field] ~= 0 then redis.call('HINCRBY', counters, field, delta[field]) end
        end
        return { redis.call('ZCARD', J .. ':closing'), delta.applied }
        """;
}
