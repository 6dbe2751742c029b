// The label join as one Lua script per batch and model: the store applies every record of the batch and the
// next offset of each partition in one atomic step, so a batch is applied whole or not at all, and a record at an
// offset below the stored one (a replay after a kill, or a member that lost its partition) changes nothing.
// docs/performance.md, "The label join".
using System.Buffers.Binary;
using System.Globalization;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Performance;

/// <summary>
/// One batch of the label join of one model, as arguments of <see cref="Source"/>. Keys, all under
/// <c>J = PREFIX:{PROJECT}:drift:join:MODEL</c> (one slot by the project's hash tag):
/// <list type="bullet">
/// <item><c>J:offsets</c> — hash <c>topic:partition</c> → next offset to apply.</item>
/// <item><c>J:parts</c> — hash <c>topic:partition</c> → its end offset as last told (the high watermark) and the
/// largest event time applied from it.</item>
/// <item><c>J:state</c> — hash: <c>wp</c>, <c>wl</c>, the prediction and label watermarks of the last batch (see
/// <see cref="Source"/>); <c>floor:VERSION:MONITOR</c>, the end of the newest window evaluated and swept.</item>
/// <item><c>J:p:BUCKET</c> — hash prediction id → the logged prediction (time, version, per monitor: counted
/// flag, score, segment; <c>!</c> in front once labelled), a bucket per <see cref="JoinSettings.BucketMs"/> of
/// prediction time; <c>J:pb</c> — sorted set of those buckets by start.</item>
/// <item><c>J:l:BUCKET</c> — hash prediction id → a pending label (time, value), bucketed by label time;
/// <c>J:lb</c> — sorted set of those buckets.</item>
/// <item><c>J:w:VERSION:MONITOR:START</c> — hash, a window: <c>state</c> (open, closing, evaluated), <c>version</c>,
/// <c>monitor</c> (1-based), <c>start</c>, <c>end</c>, <c>n</c>, <c>l</c> (predictions, labelled), <c>segs</c>,
/// <c>n:SEG</c>, <c>l:SEG</c>, <c>closed_by</c>; <c>…:s</c> and <c>…:s:SEG</c> the scores (8 bytes each),
/// <c>…:p</c> and <c>…:p:SEG</c> the joined pairs (score then label: 9 bytes, a regressor's 16), each a list of
/// one chunk per batch (a list grows in place; a string grown by APPEND is copied whole on each append, which a
/// log-structured store such as Garnet keeps writing anew at the end of its log).</item>
/// <item><c>J:open</c>, <c>J:closing</c>, <c>J:done</c> — sorted sets of window keys by window end.</item>
/// </list>
/// </summary>
internal sealed class JoinScript
{
    /// <summary>
    /// KEYS[1] the offsets hash, KEYS[2] the label counters (<c>DriftKeys.Labels</c>). ARGV: J, horizon, bucket,
    /// grace, coverage ('' for none), expiry (ms), the prediction topic, the label topic, monitors M, then per monitor
    /// its window (ms), segment cap and kind (<c>s</c> or <c>-</c>: keep the scores or not; then <c>c</c> or
    /// <c>r</c>: classifier or regressor), then the record count and per record 7 values: kind (<c>p</c> prediction,
    /// <c>l</c> label, <c>x</c> offset only), <c>topic:partition</c>, offset, id, time, and for a prediction its
    /// version and per monitor score (8 bytes) + segment + newline, for a label its value (<see cref="LabelValue"/>)
    /// and ''; then the count of partition ends and per partition <c>topic:partition</c> and its end offset. Answers
    /// the count of windows waiting for evaluation and the count of records applied.
    /// <para>
    /// A topic's watermark is the largest event time applied from its partitions, held back to the smallest one of a
    /// partition not read to its end (its next offset below its end offset; a partition with records and none
    /// applied holds it back to the beginning of time). A partition read to its end does not hold it back, however
    /// old its newest record: an idle partition stalls nothing, and a backlog over many partitions, read at unequal
    /// paces, closes no window before every partition is past it.
    /// </para>
    /// </summary>
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
        -- Keys built once per batch (each concatenation makes and hashes a new string).
        local wkeys = {}
        local function window(version, m, t)
          local start = floor(t, wms[m])
          local byv = wkeys[version]
          if byv == nil then byv = {}; wkeys[version] = byv end
          local bym = byv[m]
          if bym == nil then bym = {}; byv[m] = bym end
          local w = bym[start]
          if w == nil then w = J .. ':w:' .. version .. ':' .. m .. ':' .. fmt(start); bym[start] = w end
          return w
        end
        local pkeys, lkeys = {}, {}
        local function pkeyOf(b)
          local k = pkeys[b]
          if k == nil then k = J .. ':p:' .. fmt(b); pkeys[b] = k end
          return k
        end
        local function lkeyOf(b)
          local k = lkeys[b]
          if k == nil then k = J .. ':l:' .. fmt(b); lkeys[b] = k end
          return k
        end

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
            c = { state = st[1], segs = tonumber(st[2]) or 0, dsegs = 0, seen = {}, n = 0, l = 0, sn = {}, sl = {},
              pk = w .. ':p', sk = w .. ':s', psk = {}, ssk = {} }
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
        local function segkey(keys, base, seg)
          local k = keys[seg]
          if k == nil then k = base .. ':' .. seg; keys[seg] = k end
          return k
        end
        local expiring = {}
        -- The pending labels by prediction id (id -> bucket start, or a list of them), read once per batch when a
        -- prediction first looks for its label: those stored and those this batch left pending.
        local lbuckets = {}
        local pendingIds = nil
        local function addPending(id, b)
          local e = pendingIds[id]
          if e == nil then pendingIds[id] = b
          elseif type(e) == 'number' then pendingIds[id] = { e, b }
          else e[#e + 1] = b end
        end
        local function loadPending()
          pendingIds = {}
          local stored = redis.call('ZRANGE', J .. ':lb', 0, -1, 'WITHSCORES')
          for i = 1, #stored, 2 do lbuckets[stored[i]] = tonumber(stored[i + 1]) end
          for key, b in pairs(lbuckets) do
            for _, id in ipairs(redis.call('HKEYS', key)) do addPending(id, b) end
          end
        end
        -- The buckets of predictions (their starts): those stored, read once per batch when a label first looks for
        -- its prediction, and those this batch opened.
        local pbuckets, pnew = nil, {}
        local function loadPredictionBuckets()
          pbuckets = {}
          local stored = redis.call('ZRANGE', J .. ':pb', 0, -1, 'WITHSCORES')
          for i = 2, #stored, 2 do pbuckets[tonumber(stored[i])] = true end
        end

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
                append(c.pk, pair)
                if e[3] ~= '' then
                  c.sl[e[3]] = (c.sl[e[3]] or 0) + 1
                  append(segkey(c.psk, c.pk, e[3]), pair)
                end
              end
            end
          end
          if any then delta.joined = delta.joined + 1 else delta.late = delta.late + 1 end
          return any
        end

        local fkeys = {}
        local function floorOf(version, m)
          local byv = fkeys[version]
          if byv == nil then byv = {}; fkeys[version] = byv end
          local fkey = byv[m]
          if fkey == nil then fkey = 'floor:' .. version .. ':' .. m; byv[m] = fkey end
          local f = floors[fkey]
          if f == nil then f = tonumber(redis.call('HGET', stateKey, fkey)) or -9e15; floors[fkey] = f end
          return f
        end

        -- A prediction's part in each monitor's window, decided without changing anything (so a duplicate found after
        -- it changes nothing): per monitor { flag, score, segment, window, its cache, whether it takes a segment slot }.
        local function plan(t, version, payload)
          local entries = {}
          local pos = 1
          for m = 1, M do
            local score = string.sub(payload, pos, pos + 7)
            local e = string.find(payload, '\n', pos + 8, true)
            local seg = string.sub(payload, pos + 8, e - 1)
            pos = e + 1
            local flag, w, c, claim = '-', nil, nil, false
            local start = floor(t, wms[m])
            -- A window at or below the newest one evaluated and swept of its monitor is gone: too late to count in it.
            if start + wms[m] > floorOf(version, m) then
              w = window(version, m, t)
              c = win(w)
              if not c.state or c.state == 'open' then
                flag = '+'
                if seg ~= '' then
                  local known = c.seen[seg]
                  if known == nil then
                    known = c.state ~= nil and redis.call('HEXISTS', w, 'n:' .. seg) == 1
                    if known then
                      c.seen[seg] = true
                    elseif c.segs < cap[m] then
                      claim = true
                      known = true
                    else
                      c.seen[seg] = false
                    end
                  end
                  if not known then seg = 'other' end
                end
              end
            end
            entries[m] = { flag, score, seg, w, c, claim, start }
          end
          return entries
        end

        -- What a prediction planned, done: windows opened, segment slots taken, counts and scores added.
        local function apply(version, entries)
          for m = 1, M do
            local e = entries[m]
            if e[1] == '+' then
              local w, c, seg = e[4], e[5], e[3]
              if not c.state then
                c.state = 'open'
                local start = e[7]
                redis.call('HSET', w, 'state', 'open', 'version', version, 'monitor', m, 'start', fmt(start), 'end', fmt(start + wms[m]), 'n', 0, 'l', 0, 'segs', 0)
                redis.call('ZADD', J .. ':open', start + wms[m], w)
              end
              if e[6] then
                c.segs = c.segs + 1
                c.dsegs = c.dsegs + 1
                c.seen[seg] = true
              end
              c.n = c.n + 1
              if seg ~= '' then c.sn[seg] = (c.sn[seg] or 0) + 1 end
              if keep[m] then
                append(c.sk, e[2])
                if seg ~= '' then append(segkey(c.ssk, c.sk, seg), e[2]) end
              end
            else
              delta.too_late = delta.too_late + 1
            end
          end
        end

        local function predict(id, t, version, payload)
          local b = floor(t, B)
          local pkey = pkeyOf(b)
          if pending > 0 and pendingIds == nil then loadPending() end
          local waiting = pending > 0 and pendingIds[id] ~= nil
          if waiting and redis.call('HEXISTS', pkey, id) == 1 then
            delta.duplicate_prediction = delta.duplicate_prediction + 1
            return
          end
          local entries = plan(t, version, payload)
          local parts = { fmt(t), '\n', version, '\n' }
          for m = 1, M do
            local e = entries[m]
            parts[#parts + 1] = e[1] .. e[2] .. e[3] .. '\n'
          end
          if not waiting then
            -- No label waits for it (the common case): logged only if its id is new, in one call.
            if redis.call('HSETNX', pkey, id, table.concat(parts)) == 0 then
              delta.duplicate_prediction = delta.duplicate_prediction + 1
              return
            end
            apply(version, entries)
            pnew[b] = true
            expiring[pkey] = { J .. ':pb', b }
            return
          end
          apply(version, entries)
          local record = table.concat(parts)
          if pending > 0 then
            if pendingIds == nil then loadPending() end
            local e = pendingIds[id]
            if e ~= nil then
              -- Its label's bucket: the first of label time from its own time - one bucket to + horizon + grace.
              local lo, hi = floor(t - B, B), t + horizon + grace
              local list = type(e) == 'number' and { e } or e
              table.sort(list)
              for i, lb in ipairs(list) do
                if lb >= lo and lb <= hi then
                  local lkey = lkeyOf(lb)
                  local v = redis.call('HGET', lkey, id)
                  if v then
                    redis.call('HDEL', lkey, id)
                    table.remove(list, i)
                    if #list == 0 then pendingIds[id] = nil elseif #list == 1 then pendingIds[id] = list[1] else pendingIds[id] = list end
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
            end
          end
          redis.call('HSET', pkey, id, record)
          pnew[b] = true
          expiring[pkey] = { J .. ':pb', b }
        end

        -- A label's prediction is most often in the bucket of the label's time or the few before it: looked for
        -- there first, then back to label time - horizon - grace, then one bucket after the label.
        local function label(id, lt, value)
          local from = floor(lt - horizon - grace, B)
          local newest = floor(lt, B)
          local b = newest
          if pbuckets == nil then loadPredictionBuckets() end
          while true do
            local pkey = pkeyOf(b)
            local record = (pbuckets[b] or pnew[b]) and redis.call('HGET', pkey, id)
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
          local lkey = lkeyOf(newest)
          if redis.call('HSETNX', lkey, id, fmt(lt) .. '\n' .. value) == 1 then
            pending = pending + 1
            delta.pending = delta.pending + 1
            expiring[lkey] = { J .. ':lb', newest }
            if pendingIds ~= nil and lbuckets[lkey] == nil then
              lbuckets[lkey] = newest
              addPending(id, newest)
            elseif pendingIds ~= nil then
              addPending(id, newest)
            else
              lbuckets[lkey] = newest
            end
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

    /// <summary>Most records in one script: a batch of the job.</summary>
    public const int MaxBatch = 5000;

    private readonly List<RedisValue> _values = new(4096);
    private readonly Dictionary<string, long> _ends = new(StringComparer.Ordinal);
    private readonly string _join;
    private readonly RedisKey[] _keys;
    private int _count;
    private int _countAt;

    /// <summary>A script builder for the model whose join keys start with <paramref name="join"/>.</summary>
    public JoinScript(string join, RedisKey counters, JoinSettings settings)
    {
        _join = join;
        Settings = settings;
        _keys = [join + ":offsets", counters];
        Clear();
    }

    /// <summary>The join's settings.</summary>
    public JoinSettings Settings { get; }

    /// <summary>Records added since the last <see cref="Clear"/>.</summary>
    public int Count => _count;

    /// <summary>Forgets the records added.</summary>
    public void Clear()
    {
        _values.Clear();
        _values.Add(_join);
        _values.Add(Settings.HorizonMs);
        _values.Add(Settings.BucketMs);
        _values.Add(Settings.GraceMs);
        _values.Add(Settings.Coverage is { } c ? c.ToString("R", CultureInfo.InvariantCulture) : "");
        _values.Add(Settings.ExpiryMs);
        _values.Add(Settings.PredictionTopic);
        _values.Add(Settings.LabelTopic);
        _values.Add(Settings.Monitors.Count);
        foreach (var m in Settings.Monitors)
        {
            _values.Add(m.WindowMs);
            _values.Add(m.Segments);
            _values.Add((m.KeepScores ? "s" : "-") + (m.Regression ? "r" : "c"));
        }

        _countAt = _values.Count;
        _values.Add(0);
        _count = 0;
        _ends.Clear();
    }

    /// <summary>Tells a partition's end offset (its high watermark) as the consumer last saw it.</summary>
    public void End(string partition, long endOffset) => _ends[partition] = endOffset;

    /// <summary>Partition ends told since the last <see cref="Clear"/>.</summary>
    public int Ends => _ends.Count;

    /// <summary>Adds a logged prediction; <paramref name="payload"/> holds per monitor its score (8 bytes) and segment, each ended by a newline.</summary>
    public void Prediction(string partition, long offset, string id, long timeMs, string version, byte[] payload) =>
        Add("p", partition, offset, id, timeMs, version, payload);

    /// <summary>Adds a label (<paramref name="value"/>: <see cref="LabelValue"/>).</summary>
    public void Label(string partition, long offset, string id, long timeMs, byte[] value) =>
        Add("l", partition, offset, id, timeMs, value, "");

    /// <summary>Adds a record that only moves its partition's offset (dead-lettered, or not this model's).</summary>
    public void Skip(string partition, long offset) => Add("x", partition, offset, "", 0, "", "");

    /// <summary>Runs the batch; answers the windows waiting for evaluation and the records applied (not skipped as replays).</summary>
    public Task<(long Closing, long Applied)> RunAsync(IDatabaseAsync database) => RunAsync(database, Source);

    /// <summary>Runs the batch through <paramref name="source"/>, a script taking <see cref="Source"/>'s arguments (a test's reference).</summary>
    internal async Task<(long Closing, long Applied)> RunAsync(IDatabaseAsync database, string source)
    {
        _values[_countAt] = _count;
        var values = new RedisValue[_values.Count + 1 + (2 * _ends.Count)];
        _values.CopyTo(values);
        var at = _values.Count;
        values[at++] = _ends.Count;
        foreach (var (partition, end) in _ends)
        {
            values[at++] = partition;
            values[at++] = end;
        }

        var result = (RedisResult[])(await database.ScriptEvaluateAsync(source, _keys, values).ConfigureAwait(false))!;
        return ((long)result[0], (long)result[1]);
    }

    /// <summary>The payload of a prediction: per monitor its score as 8 bytes (little-endian double) and its segment (null: none).</summary>
    public static byte[] Payload(ReadOnlySpan<double> scores, ReadOnlySpan<string?> segments)
    {
        var length = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            length += 9 + (segments[i] is { } s ? System.Text.Encoding.UTF8.GetByteCount(s) : 0);
        }

        var bytes = new byte[length];
        var at = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(at), scores[i]);
            at += 8;
            if (segments[i] is { } s)
            {
                at += System.Text.Encoding.UTF8.GetBytes(s, bytes.AsSpan(at));
            }

            bytes[at++] = (byte)'\n';
        }

        return bytes;
    }

    /// <summary>
    /// A label as the script takes it: 1 byte for a classifier's pairs (1 positive, 0 negative), then the value as 8
    /// bytes (little-endian double) for a regressor's: each monitor of the model takes its part.
    /// </summary>
    public static byte[] LabelValue(double value)
    {
        var bytes = new byte[9];
        bytes[0] = value != 0 ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(1), value);
        return bytes;
    }

    private void Add(string kind, string partition, long offset, string id, long timeMs, RedisValue a, RedisValue b)
    {
        _values.Add(kind);
        _values.Add(partition);
        _values.Add(offset);
        _values.Add(id);
        _values.Add(timeMs);
        _values.Add(a);
        _values.Add(b);
        _count++;
    }
}

/// <summary>How one model's labels are joined (from its <c>labels:</c> and <c>performance:</c> declarations).</summary>
/// <param name="HorizonMs">The labels' horizon.</param>
/// <param name="BucketMs">The width of a bucket of predictions or pending labels: a quarter of the horizon (at least 1 s).</param>
/// <param name="GraceMs">How long past the horizon a prediction is kept, so a label that late is counted late rather than unmatched: one bucket.</param>
/// <param name="Coverage">The labelled share that closes a window early, or null.</param>
/// <param name="Monitors">The model's performance monitors, in declaration order.</param>
/// <param name="PredictionTopic">The model's prediction topic.</param>
/// <param name="LabelTopic">The model's label topic.</param>
internal sealed record JoinSettings(long HorizonMs, long BucketMs, long GraceMs, double? Coverage, IReadOnlyList<JoinMonitor> Monitors, string PredictionTopic, string LabelTopic)
{
    /// <summary>
    /// The wall-clock expiry set on every bucket at each write, a safety net behind the sweeps by event time (which
    /// count what they drop): twice the time a bucket is kept by event time.
    /// </summary>
    public long ExpiryMs => 2 * (BucketMs + HorizonMs + GraceMs + BucketMs);

    /// <summary>The settings of a model's declarations.</summary>
    public static JoinSettings Of(string predictionTopic, Core.Definitions.LabelsDefinition labels, IReadOnlyList<Core.Definitions.PerformanceMonitorDefinition> monitors)
    {
        var bucket = Math.Max(1000, labels.HorizonMs / 4);
        return new JoinSettings(
            labels.HorizonMs,
            bucket,
            bucket,
            labels.Coverage,
            [.. monitors.Select(m => new JoinMonitor(m.WindowMs, m.SegmentBy is null ? 0 : m.Segments * WindowEvaluator.TrackedPerSegment, m.Task == Core.Definitions.PerformanceTask.BinaryClassification && m.Estimate, m.Task == Core.Definitions.PerformanceTask.Regression))],
            predictionTopic,
            labels.Topic);
    }
}

/// <summary>One performance monitor as the join sees it.</summary>
/// <param name="WindowMs">Its window of prediction time.</param>
/// <param name="Segments">How many segment values a window keeps apart while open (the rest share <c>other</c>); its evaluation reports the monitor's top ones by volume.</param>
/// <param name="KeepScores">Keep every score of a window (for the estimate).</param>
/// <param name="Regression">A regressor's: pairs of 16 bytes (prediction, target), not 9 (score, class).</param>
internal sealed record JoinMonitor(long WindowMs, int Segments, bool KeepScores, bool Regression = false);
