using FeatureStore.Core.Windows;
using FeatureStore.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Core.Tests.Windows;

/// <summary>The tile implementation against the naive reference on random streams, windows and instants.</summary>
public sealed class ViewWindowStatePropertyUnitTests
{
    private static readonly long[] Hops = [1, 7, 1000, 60_000, 300_000, 3_600_000];
    private static readonly AggregationKind[] Kinds = Enum.GetValues<AggregationKind>();

    private static Config Runs(int count) => Config.QuickThrowOnFailure.WithMaxTest(count);

    [Fact]
    public void Out_of_order_streams_with_raw_entries_match_the_reference_at_every_instant() =>
        Check.One(Runs(1500), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed => Scenario(seed, inOrderSweep: false)));

    [Fact]
    public void In_order_sweeps_without_raw_entries_match_the_reference() =>
        Check.One(Runs(1500), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed => Scenario(seed, inOrderSweep: true)));

    [Fact]
    public void Partition_shares_serialised_and_merged_match_the_reference() =>
        Check.One(Runs(800), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed => Scenario(seed, inOrderSweep: false, partitions: 1 + (seed % 3))));

    [Fact]
    public void Compacted_states_are_exact_or_say_inexact_and_exact_from_their_retained_span() =>
        Check.One(Runs(1500), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), CompactedScenario));

    [Fact]
    public void A_hot_entity_past_its_raw_entry_cap_never_reads_present_with_later_events()
    {
        // 20 000 events of one entity, compacted as ingest does after every batch of 100 (cap 1 024 raw entries).
        var features = new List<WindowedFeature>
        {
            new(AggregationKind.Count, new WindowSpec(3_600_000, 300_000)),
            new(AggregationKind.Sum, new WindowSpec(86_400_000, 3_600_000)),
            new(AggregationKind.Count, WindowSpec.Lifetime(3_600_000)),
        };
        const long ttl = 7 * 86_400_000L;
        var random = new Random(7);
        var state = new ViewWindowState(features, ttl);
        var events = new List<TestEvent>();
        var last = long.MinValue;
        for (var i = 0; i < 20_000; i++)
        {
            var time = (i * 4_000L) + random.Next(0, 60_000); // a little out of order
            var e = new TestEvent(time, i, [FeatureInput.OfNumber(1), FeatureInput.OfNumber(random.Next(100)), FeatureInput.OfNumber(1)]);
            events.Add(e);
            state.Add(e.Time, e.Sequence, e.Inputs);
            last = Math.Max(last, time);
            if (i % 100 == 99)
            {
                state.Compact(rawBefore: last - 60_000 - 3_600_000, queriesFrom: last - ttl - 60_000, maxRawEntries: 1_024);
            }
        }

        var values = new FeatureValue[features.Count];
        int exact = 0, inexact = 0;
        for (var q = 0; q < 1_000; q++)
        {
            // Half anywhere in the entity's history, half inside its retained span.
            var t = q % 2 == 0 ? random.NextInt64(0, last + 600_000) : random.NextInt64(state.ExactFrom, last + 600_000);
            state.Evaluate(t, values);
            var expected = NaiveReference.Evaluate(events, features, ttl, t);
            for (var f = 0; f < features.Count; f++)
            {
                if (values[f].Status == ValueStatus.Inexact)
                {
                    Assert.True(t < state.ExactFrom, $"T={t} inside the retained span (from {state.ExactFrom}) read inexact");
                    inexact++;
                }
                else
                {
                    Assert.True(Same([expected[f]], [values[f]], out var why), $"T={t}: {why}");
                    exact++;
                }
            }
        }

        // The 1 024 newest events span about 68 minutes: most past instants cannot be cut, and say so.
        Assert.InRange(state.ExactFrom, last - (2 * 3_600_000), last);
        Assert.True(inexact > 1_000, $"{inexact} inexact values");
        Assert.True(exact >= 1_500, $"{exact} exact values");
    }

    private static bool CompactedScenario(int seed)
    {
        var random = new Random(seed);
        var features = Enumerable.Range(0, random.Next(1, 6)).Select(_ => RandomFeature(random)).ToList();
        var longest = features.Max(f => f.Window.WindowMs);
        var hop = features.Min(f => f.Window.HopMs);
        var maxHop = features.Max(f => f.Window.HopMs);
        var ttl = Math.Max(longest, hop * random.Next(1, 40));
        var lateness = hop * random.Next(0, 10);
        var cap = random.Next(1, 40);
        var origin = random.Next(2) == 0 ? -(long)random.Next(0, 1_000_000_000) : (long)random.Next(0, 1_000_000_000);
        var span = Math.Max(10, hop * random.Next(1, 60));
        var state = new ViewWindowState(features, ttl);
        var added = new List<TestEvent>();
        var last = long.MinValue;
        var count = random.Next(0, 120);
        for (var i = 0; i < count; i++)
        {
            // Mostly forward in time, some late within the lateness (later than it, ingest dead-letters them).
            var time = origin + (span * i / Math.Max(1, count)) - (random.Next(3) == 0 ? random.NextInt64(0, lateness + 1) : 0);
            if (last != long.MinValue && time < last - lateness)
            {
                continue;
            }

            var e = new TestEvent(time, i, [.. features.Select(f => RandomInput(random, f))]);
            added.Add(e);
            state.Add(e.Time, e.Sequence, e.Inputs);
            last = Math.Max(last, time);
            if (random.Next(5) == 0)
            {
                state.Compact(rawBefore: last - lateness - maxHop, queriesFrom: last - ttl - lateness, maxRawEntries: cap);
            }
        }

        // What a lookup reads: the state stored and loaded back.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        var loaded = ViewWindowState.ReadFrom(buffer.WrittenSpan, features, ttl);
        var values = new FeatureValue[features.Count];
        foreach (var t in QueryTimes(random, added, features, origin, span))
        {
            foreach (var candidate in new[] { state, loaded })
            {
                candidate.Evaluate(t, values);
                var expected = NaiveReference.Evaluate(added, features, ttl, t);
                for (var f = 0; f < features.Count; f++)
                {
                    if (values[f].Status == ValueStatus.Inexact)
                    {
                        if (t >= candidate.ExactFrom || values[f].Kind != ValueKind.None)
                        {
                            throw new InvalidOperationException($"seed {seed}, T={t}: inexact inside the retained span (from {candidate.ExactFrom}): {Describe(features, ttl)}");
                        }
                    }
                    else if (!Same([expected[f]], [values[f]], out var why))
                    {
                        throw new InvalidOperationException($"seed {seed}, T={t}, exact from {candidate.ExactFrom}: {Describe(features, ttl)}: {why}");
                    }
                }
            }
        }

        return true;
    }

    private static bool Scenario(int seed, bool inOrderSweep, int partitions = 0)
    {
        var random = new Random(seed);
        var features = Enumerable.Range(0, random.Next(1, 6)).Select(_ => RandomFeature(random)).ToList();
        var longest = features.Max(f => f.Window.WindowMs);
        var hop = features.Min(f => f.Window.HopMs);
        var ttl = Math.Max(longest, hop * random.Next(1, 40));
        var origin = random.Next(2) == 0 ? -(long)random.Next(0, 1_000_000_000) : (long)random.Next(0, 1_000_000_000);
        var span = Math.Max(10, hop * random.Next(1, 30));
        var events = new List<TestEvent>();
        var count = random.Next(0, 60);
        for (var i = 0; i < count; i++)
        {
            // Times cluster so duplicates and tile edges happen often.
            var time = random.Next(4) == 0 && events.Count > 0 ? events[random.Next(events.Count)].Time
                : random.Next(4) == 0 ? origin + (hop * random.Next(0, 30))
                : origin + random.NextInt64(0, span);
            events.Add(new TestEvent(time, i, [.. features.Select(f => RandomInput(random, f))]));
        }

        var queries = QueryTimes(random, events, features, origin, span);
        var state = new ViewWindowState(features, ttl) { RetainRaw = !inOrderSweep };
        var values = new FeatureValue[features.Count];
        if (inOrderSweep)
        {
            // As an export replays history: events in time order, each query once every event up to it is in.
            var ordered = events.OrderBy(e => e.Time).ThenBy(e => e.Sequence).ToList();
            var next = 0;
            foreach (var t in queries.Order())
            {
                while (next < ordered.Count && ordered[next].Time <= t)
                {
                    state.Add(ordered[next].Time, ordered[next].Sequence, ordered[next].Inputs);
                    next++;
                }

                if (!state.Evaluate(t, values) || !Same(NaiveReference.Evaluate(events, features, ttl, t), values, out _))
                {
                    throw new InvalidOperationException($"seed {seed}, T={t}: {Describe(features, ttl)}: {Why(t, values, events, features, ttl)}");
                }
            }

            return true;
        }

        if (partitions > 0)
        {
            // As the online store holds an entity: one share per source partition, each stored as bytes.
            var shares = Enumerable.Range(0, partitions).Select(_ => new ViewWindowState(features, ttl)).ToArray();
            foreach (var e in events.OrderBy(_ => random.Next()))
            {
                shares[random.Next(partitions)].Add(e.Time, e.Sequence, e.Inputs);
            }

            var stored = new List<byte[]>();
            foreach (var share in shares)
            {
                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                share.WriteTo(buffer);
                stored.Add(buffer.WrittenSpan.ToArray());
                var read = ViewWindowState.ReadFrom(buffer.WrittenSpan, features, ttl);

                // What was read writes the same bytes (raw inputs that repeat a value refer to it the same way).
                var again = new System.Buffers.ArrayBufferWriter<byte>();
                read.WriteTo(again);
                if (!again.WrittenSpan.SequenceEqual(buffer.WrittenSpan))
                {
                    throw new InvalidOperationException($"seed {seed}: a share read back writes other bytes: {Describe(features, ttl)}");
                }

                state.MergeFrom(read);
            }

            // As a lookup loads them: raw entries skipped unless some share holds an event after the instant.
            var loaded = new ViewWindowState(features, ttl);
            var scratch = new ViewWindowState(features, ttl);
            foreach (var t in queries)
            {
                var from = stored.Any(b => ViewWindowState.StoredLastEventTime(b) > t) ? long.MinValue : t;
                loaded.LoadForEvaluation(stored[0], from);
                foreach (var bytes in stored.Skip(1))
                {
                    scratch.LoadForEvaluation(bytes, from);
                    loaded.MergeFrom(scratch);
                }

                var exact = loaded.Evaluate(t, values);
                if (!exact || !Same(NaiveReference.Evaluate(events, features, ttl, t), values, out _))
                {
                    throw new InvalidOperationException($"seed {seed}, T={t}, loaded for evaluation, exact={exact}: {Describe(features, ttl)}: {Why(t, values, events, features, ttl)}");
                }
            }
        }
        else
        {
            foreach (var e in events.OrderBy(_ => random.Next()))
            {
                state.Add(e.Time, e.Sequence, e.Inputs);
            }
        }

        foreach (var t in queries)
        {
            var exact = state.Evaluate(t, values);
            if (!exact || !Same(NaiveReference.Evaluate(events, features, ttl, t), values, out _))
            {
                throw new InvalidOperationException($"seed {seed}, T={t}, exact={exact}: {Describe(features, ttl)}: {Why(t, values, events, features, ttl)}");
            }
        }

        return true;
    }

    private static string Why(long t, FeatureValue[] values, List<TestEvent> events, List<WindowedFeature> features, long ttl)
    {
        var expected = NaiveReference.Evaluate(events, features, ttl, t);
        Same(expected, values, out var why);
        return why + $" (events: {string.Join(",", events.Select(e => e.Time))})";
    }

    private static string Describe(List<WindowedFeature> features, long ttl) =>
        $"ttl {ttl}, features " + string.Join("; ", features.Select(f => $"{f.Kind} W={f.Window.WindowMs} H={f.Window.HopMs}{(f.TextValued ? " text" : "")}"));

    private static WindowedFeature RandomFeature(Random random)
    {
        var hop = Hops[random.Next(Hops.Length)];
        var kind = Kinds[random.Next(Kinds.Length)];
        var window = random.Next(5) == 0 ? WindowSpec.Lifetime(hop) : new WindowSpec(hop * random.Next(1, 13), hop);
        var parameter = kind switch
        {
            AggregationKind.Percentile => random.Next(4) switch { 0 => 0, 1 => 1, 2 => 0.5, _ => Math.Round(random.NextDouble(), 3) },
            AggregationKind.LastN or AggregationKind.LastNDistinct or AggregationKind.TopK => random.Next(1, 6),
            _ => 0,
        };
        return new WindowedFeature(kind, window, AggregationKinds.KeepsText(kind) && random.Next(2) == 0, parameter);
    }

    private static FeatureInput RandomInput(Random random, WindowedFeature feature)
    {
        if (random.Next(8) == 0)
        {
            return FeatureInput.Absent;
        }

        if (feature.TextValued)
        {
            return FeatureInput.OfText("v" + random.Next(10));
        }

        // Few distinct values so approx_distinct stays in HyperLogLog's exact range; mixed magnitudes for sums.
        var value = random.Next(3) switch
        {
            0 => random.Next(-5, 6),
            1 => Math.Round(random.NextDouble() * 1000, 2),
            _ => random.Next(-3, 4) * 1e6,
        };
        return FeatureInput.OfNumber(value);
    }

    private static List<long> QueryTimes(Random random, List<TestEvent> events, List<WindowedFeature> features, long origin, long span)
    {
        var times = new List<long>();
        for (var i = 0; i < 12; i++)
        {
            times.Add(origin - span + random.NextInt64(0, 3 * span));
        }

        foreach (var e in events.Take(8))
        {
            var f = features[random.Next(features.Count)];
            var w = f.Window.WindowMs;
            var h = f.Window.HopMs;
            times.Add(e.Time);                                   // exactly at an event
            times.Add(e.Time - 1);
            times.Add(e.Time + w);                               // the event exactly at T - W
            var start = (TileMath.FloorDiv(e.Time, h) * h) + w;  // T where S(T) is the event's tile start
            times.Add(start);
            times.Add(start - 1);
            times.Add((TileMath.FloorDiv(e.Time, h) + 1) * h);   // tile edge after the event
        }

        return times;
    }

    private static bool SameItems<T>(IReadOnlyList<T>? e, IReadOnlyList<T>? a) => e is null || a is null ? e is null && a is null : e.SequenceEqual(a);

    private static bool Same(FeatureValue[] expected, FeatureValue[] actual, out string why)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            var e = expected[i];
            var a = actual[i];
            var ok = e.Status == a.Status && e.Kind == a.Kind && e.EventTimeMs == a.EventTimeMs && e.Text == a.Text
                && e.Int64 == a.Int64
                && (e.Double == a.Double || Math.Abs(e.Double - a.Double) <= 1e-9 * Math.Max(1, Math.Abs(e.Double)))
                && SameItems(e.Strings, a.Strings) && SameItems(e.Doubles, a.Doubles) && SameItems(e.Counts, a.Counts);
            if (!ok)
            {
                why = $"feature {i}: expected {e} {e.ToJson()}, got {a} {a.ToJson()}";
                return false;
            }
        }

        why = "";
        return true;
    }
}
