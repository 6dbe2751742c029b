using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Export;

namespace FeatureStore.Parquet.Tests;

/// <summary>The export's event columns: inputs read back as given, shared columns, and the sort by entity and time.</summary>
public sealed class ViewEventsUnitTests
{
    [Fact]
    public void Features_of_one_field_share_a_column_and_read_back_their_inputs()
    {
        // Slots: count (none), sum and max of field 3, distinct of field 1, last of field 3.
        var events = new ViewEvents([-1, 3, 3, 1, 3]);
        Assert.Equal([3, 1], events.ColumnSlots);
        var a = events.Add(0, 10, 1);
        events.SetNumber(a, 0, 2.5);
        events.SetText(a, 1, "m1");
        var b = events.Add(0, 11, 2);
        events.SetText(b, 1, "m1");
        events.Add(0, 12, 3); // every input absent

        var inputs = new FeatureInput[5];
        events.Inputs(a, inputs);
        Assert.Equal([FeatureInput.Absent, FeatureInput.OfNumber(2.5), FeatureInput.OfNumber(2.5), FeatureInput.OfText("m1"), FeatureInput.OfNumber(2.5)], inputs);
        events.Inputs(b, inputs);
        Assert.Equal([FeatureInput.Absent, FeatureInput.Absent, FeatureInput.Absent, FeatureInput.OfText("m1"), FeatureInput.Absent], inputs);
        events.Inputs(2, inputs);
        Assert.All(inputs, i => Assert.Equal(FeatureInput.Absent, i));
    }

    [Fact]
    public void Add_with_inputs_keeps_numbers_text_and_absence()
    {
        var events = new ViewEvents(3);
        FeatureInput[] given = [FeatureInput.OfNumber(-0.0), FeatureInput.OfText(string.Empty), FeatureInput.Absent];
        events.Add(0, 1, 1, given);
        var read = new FeatureInput[3];
        events.Inputs(0, read);
        Assert.Equal(given, read);
        Assert.Throws<ArgumentException>(() => events.Add(0, 1, 1, new FeatureInput[2]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Sort_orders_by_entity_then_time_then_sequence_and_moves_inputs_along(int seed)
    {
        var random = new Random(seed);
        const int entities = 7; // entities 5 and 6 have no events
        var events = new ViewEvents(1);
        var expected = new List<(int Entity, long Time, long Sequence)>();
        for (var i = 0; i < 5_000; i++) // more than the initial capacity: the columns grow
        {
            var entity = random.Next(entities - 2);
            var time = random.NextInt64(-50, 50); // many ties in time
            var sequence = random.NextInt64(0, 20); // and some in sequence too
            var at = events.Add(entity, time, sequence);
            events.SetNumber(at, 0, Value(entity, time, sequence));
            expected.Add((entity, time, sequence));
        }

        events.SortByEntityAndTime(entities);

        var sorted = expected.OrderBy(e => e.Entity).ThenBy(e => e.Time).ThenBy(e => e.Sequence).ToList();
        Assert.Equal(entities + 1, events.Starts.Length);
        Assert.Equal(events.Starts[5], events.Starts[6]);
        Assert.Equal(events.Starts[6], events.Starts[7]);
        Assert.Equal(events.Count, events.Starts[entities]);
        var input = new FeatureInput[1];
        for (var e = 0; e < entities; e++)
        {
            for (var i = events.Starts[e]; i < events.Starts[e + 1]; i++)
            {
                Assert.Equal((e, sorted[i].Time, sorted[i].Sequence), (sorted[i].Entity, events.Time(i), events.Sequence(i)));
                events.Inputs(i, input);
                Assert.Equal(Value(e, events.Time(i), events.Sequence(i)), input[0].Number);
            }
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 4)]
    [InlineData(5, 15)]
    [InlineData(6, 16)]
    [InlineData(7, 17)]
    [InlineData(8, 40)]
    public void Sort_of_events_in_ordered_runs_keeps_arrival_order_on_ties(int seed, int runs)
    {
        // Each entity's events come as a few runs already in order (a log read partition after partition), each
        // run's times and sequences rising with ties: merged (up to 16 runs) or sorted (more), the order is the
        // same: entity, time, sequence, then arrival. Capacity 1: the columns grow from the smallest size.
        var random = new Random(seed);
        const int entities = 4;
        var events = new ViewEvents([0], capacity: 1);
        var arrivals = new List<(int Entity, long Time, long Sequence, int Arrival)>();
        for (var r = 0; r < Math.Max(runs, 1); r++)
        {
            var clocks = new long[entities];
            var sequences = new long[entities];
            var length = runs == 0 ? 0 : random.Next(0, 30);
            for (var i = 0; i < length; i++)
            {
                var entity = random.Next(entities);
                clocks[entity] += random.Next(0, 3); // ties in time within a run and across runs
                sequences[entity] += random.Next(0, 2); // and in sequence
                var arrival = arrivals.Count;
                var at = events.Add(entity, clocks[entity], sequences[entity]);
                events.SetNumber(at, 0, arrival);
                arrivals.Add((entity, clocks[entity], sequences[entity], arrival));
            }
        }

        events.SortByEntityAndTime(entities);

        var expected = arrivals.OrderBy(e => e.Entity).ThenBy(e => e.Time).ThenBy(e => e.Sequence).ThenBy(e => e.Arrival).ToList();
        Assert.Equal(expected.Count, events.Count);
        var input = new FeatureInput[1];
        for (var i = 0; i < expected.Count; i++)
        {
            events.Inputs(i, input);
            Assert.Equal((expected[i].Time, expected[i].Sequence, (double)expected[i].Arrival), (events.Time(i), events.Sequence(i), input[0].Number));
        }

        for (var e = 0; e < entities; e++)
        {
            Assert.Equal(expected.Count(x => x.Entity < e), events.Starts[e]);
        }
    }

    [Fact]
    public void A_capacity_below_zero_is_refused_and_zero_still_takes_events()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ViewEvents([0], capacity: -1));
        var events = new ViewEvents([0], capacity: 0);
        events.SetNumber(events.Add(0, 5, 1), 0, 2);
        events.SetNumber(events.Add(0, 4, 2), 0, 3);
        events.SortByEntityAndTime(1);
        Assert.Equal((4L, 5L), (events.Time(0), events.Time(1)));
    }

    [Fact]
    public void Sort_of_no_events_gives_empty_ranges()
    {
        var events = new ViewEvents(2);
        events.SortByEntityAndTime(3);
        Assert.Equal([0, 0, 0, 0], events.Starts);
        Assert.Equal(0, events.Count);
    }

    private static double Value(int entity, long time, long sequence) => (entity * 1_000_000) + (time * 1000) + sequence;
}
