using System.Buffers;
using FeatureStore.Core.Windows;

namespace FeatureStore.Core.Tests.Windows;

/// <summary>The stored form of a state: the current format, the one before it, and damaged bytes.</summary>
public sealed class StoredStateFormatUnitTests
{
    private const long T0 = 1_795_000_000_000;

    // The state of Build(), as format 3 (tiles oldest first) wrote it.
    private const string Format3 =
        "AwaA+LLlvWjQwIjtvWj///////////8BAOCnEgD///////////8BDMqx2gUBwJoMBAGwmRwGAeDIBwQB0McXBgGA9wIEAfD1EgQB" +
        "4PQiBgGQpA4EAYCjHgYBsNIJBAGg0RkGAdCABQHg1AMA////////////AQAAAAAAAAAAAAAAAAAAAAAM9PfDHAGA8QQAAAAAAAAA" +
        "AAAAAAAAAAAAGAHwnAYAAAAAAAD4PwAAAAAAAAAAGgGgHwAAAAAAAAhAAAAAAAAAAAAYAZDLAQAAAAAAABJAAAAAAAAAAAAYAYD3" +
        "AgAAAAAAABhAAAAAAAAAAAAYAfCiBAAAAAAAAB5AAAAAAAAAAAAYAeDOBQAAAAAAACJAAAAAAAAAAAAYAdD6BgAAAAAAACVAAAAA" +
        "AAAAAAAaAYB9AAAAAAAAKEAAAAAAAAAAABgB8KgCAAAAAAAAK0AAAAAAAAAAABgB4NQDAAAAAAAALkAAAAAAAAAAABgB0IAFAAAA" +
        "AACAMEAAAAAAAAAAAAbgpxIA////////////AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADMqx2gUBwJoMAAAAAAAA" +
        "JEAAAAAAAAAAAAAAAAAAACRAAAAAAAAAAAAEAbCZHAAAAAAAACJAAAAAAAAAAAAAAAAAAAAiQAAAAAAAAAAABgHgyAcAAAAAAAAg" +
        "QAAAAAAAAAAAAAAAAAAAIEAAAAAAAAAAAAQB0McXAAAAAAAAHEAAAAAAAAAAAAAAAAAAABxAAAAAAAAAAAAGAYD3AgAAAAAAABhA" +
        "AAAAAAAAAAAAAAAAAAAYQAAAAAAAAAAABAHw9RIAAAAAAAAUQAAAAAAAAAAAAAAAAAAAFEAAAAAAAAAAAAQB4PQiAAAAAAAAEEAA" +
        "AAAAAAAAAAAAAAAAABBAAAAAAAAAAAAGAZCkDgAAAAAAAAhAAAAAAAAAAAAAAAAAAAAIQAAAAAAAAAAABAGAox4AAAAAAAAAQAAA" +
        "AAAAAAAAAAAAAAAAAEAAAAAAAAAAAAYBsNIJAAAAAAAA8D8AAAAAAAAAAAAAAAAAAPA/AAAAAAAAAAAEAaDRGQAAAAAAAAAAAAAA" +
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAABgHQgAUAAAAAAADwvwAAAAAAAAAAAAAAAAAA8L8AAAAAAAAAAAWAuJkpAP///////////wH/" +
        "//////////8B////////////AQAAAAAAAAAAAAHOxAIM0LDoLdCw6C0WAAAAAAAAAAADYzIH4KcSAP///////////wEADMqx2gUB" +
        "wJoMAQABAGQFAQQBsJkcAQABABoJAQYB4MgHAQABALgNBgQB0McXAQABAOwKAQYBgPcCAQABAAgFAgQB8PUSAQABAGQFAQQB4PQi" +
        "AQABABoJAQYBkKQOAQABALgNBgQBgKMeAQABAOwKAQYBsNIJAQABAAgFAgQBoNEZAQABAGQFAQYB0IAFAQABABoJAQCAuJkpAP//" +
        "/////////wEBzsQCDNCw6C0BzsQCDNCw6C3///////////8BDID4suW9aAABAAAAAAAAAAABAAAAAAAAJEABAAAAAAAAAAADYzAB" +
        "enOobur/S1bwnVkCAQAAAAAAAPg/AQAAAAAAACJAAQAAAAAAAAAAA2MxAdyEtwLOYKuR8J1ZAgEAAAAAAAAIQAEAAAAAAAAgQAEA" +
        "AAAAAAAAAANjMgGhEFLHtF6A2/CdWQIBAAAAAAAAEkABAAAAAAAAHEABAAAAAAAAAAADYzABHeAIYnTqzq7wnVkCAQAAAAAAABhA" +
        "AQAAAAAAABhAAQAAAAAAAAAAA2MxAWGUsnuUEoVQ8J1ZAgEAAAAAAAAeQAEAAAAAAAAUQAEAAAAAAAAAAANjMgF6c6hu6v9LVvCd" +
        "WQIBAAAAAAAAIkABAAAAAAAAEEABAAAAAAAAAAADYzAB3IS3As5gq5HwnVkCAQAAAAAAACVAAQAAAAAAAAhAAQAAAAAAAAAAA2Mx" +
        "AaEQUse0XoDb8J1ZAgEAAAAAAAAoQAEAAAAAAAAAQAEAAAAAAAAAAANjMgEd4AhidOrOrvCdWQIBAAAAAAAAK0ABAAAAAAAA8D8B" +
        "AAAAAAAAAAADYzABYZSye5QShVDwnVkCAQAAAAAAAC5AAQAAAAAAAAAAAQAAAAAAAAAAA2MxAXpzqG7q/0tW8J1ZAgEAAAAAAIAw" +
        "QAEAAAAAAADwvwEAAAAAAAAAAANjMgHchLcCzmCrkQ==";

    // The same state as format 4 wrote it.
    private const string Format4 =
        "BAaA+LLlvWjQwIjtvWj///////////8BAOCnEgD///////////8BDD+AstoFAdCABQMBoNEZAgGw0gkDAYCjHgIBkKQOAwHg9CIC" +
        "AfD1EgIBgPcCAwHQxxcCAeDIBwMBsJkcAgHAmgwB4NQDAP///////////wEAAAAAAAAAAAAAAAAAAAAADP0BgPrDHAHQgAUAAAAA" +
        "AIAwQAAAAAAAAAAADAHg1AMAAAAAAAAuQAAAAAAAAAAADAHwqAIAAAAAAAArQAAAAAAAAAAADAGAfQAAAAAAAChAAAAAAAAAAAAN" +
        "AdD6BgAAAAAAACVAAAAAAAAAAAAMAeDOBQAAAAAAACJAAAAAAAAAAAAMAfCiBAAAAAAAAB5AAAAAAAAAAAAMAYD3AgAAAAAAABhA" +
        "AAAAAAAAAAAMAZDLAQAAAAAAABJAAAAAAAAAAAAMAaAfAAAAAAAACEAAAAAAAAAAAA0B8JwGAAAAAAAA+D8AAAAAAAAAAAwBgPEE" +
        "AAAAAAAAAAAAAAAAAAAAAAbgpxIA////////////AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADL8DgLLaBQHQgAUA" +
        "AAAAAADwvwAAAAAAAAAAAAAAAAAA8L8AAAAAAAAAAAMBoNEZAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACAbDSCQAA" +
        "AAAAAPA/AAAAAAAAAAAAAAAAAADwPwAAAAAAAAAAAwGAox4AAAAAAAAAQAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAIBkKQOAAAA" +
        "AAAACEAAAAAAAAAAAAAAAAAAAAhAAAAAAAAAAAADAeD0IgAAAAAAABBAAAAAAAAAAAAAAAAAAAAQQAAAAAAAAAAAAgHw9RIAAAAA" +
        "AAAUQAAAAAAAAAAAAAAAAAAAFEAAAAAAAAAAAAIBgPcCAAAAAAAAGEAAAAAAAAAAAAAAAAAAABhAAAAAAAAAAAADAdDHFwAAAAAA" +
        "ABxAAAAAAAAAAAAAAAAAAAAcQAAAAAAAAAAAAgHgyAcAAAAAAAAgQAAAAAAAAAAAAAAAAAAAIEAAAAAAAAAAAAMBsJkcAAAAAAAA" +
        "IkAAAAAAAAAAAAAAAAAAACJAAAAAAAAAAAACAcCaDAAAAAAAACRAAAAAAAAAAAAAAAAAAAAkQAAAAAAAAAAABYC4mSkA////////" +
        "////Af///////////wH///////////8BAAAAAAAAAAAAARjOxAIM0LDoLdCw6C0WAAAAAAAAAAADYzIH4KcSAP///////////wEA" +
        "DJMBgLLaBQHQgAUBAAEAGgkBAwGg0RkBAAEAZAUBAgGw0gkBAAEACAUCAwGAox4BAAEA7AoBAgGQpA4BAAEAuA0GAwHg9CIBAAEA" +
        "GgkBAgHw9RIBAAEAZAUBAgGA9wIBAAEACAUCAwHQxxcBAAEA7AoBAgHgyAcBAAEAuA0GAwGwmRwBAAEAGgkBAgHAmgwBAAEAZAUB" +
        "AIC4mSkA////////////AQEIzsQCDNCw6C0BCM7EAgzQsOgt////////////AQyA+LLlvWgAAQAAAAAAAAAAAQAAAAAAACRAAQAA" +
        "AAAAAAAAA2MwAXpzqG7q/0tW8J1ZAgEAAAAAAAD4PwEAAAAAAAAiQAEAAAAAAAAAAANjMQHchLcCzmCrkfCdWQIBAAAAAAAACEAB" +
        "AAAAAAAAIEABAAAAAAAAAAADYzIBoRBSx7RegNvwnVkCAQAAAAAAABJAAQAAAAAAABxAAQAAAAAAAAAAA2MwAR3gCGJ06s6u8J1Z" +
        "AgEAAAAAAAAYQAEAAAAAAAAYQAEAAAAAAAAAAANjMQFhlLJ7lBKFUPCdWQIBAAAAAAAAHkABAAAAAAAAFEABAAAAAAAAAAADYzIB" +
        "enOobur/S1bwnVkCAQAAAAAAACJAAQAAAAAAABBAAQAAAAAAAAAAA2MwAdyEtwLOYKuR8J1ZAgEAAAAAAAAlQAEAAAAAAAAIQAEA" +
        "AAAAAAAAAANjMQGhEFLHtF6A2/CdWQIBAAAAAAAAKEABAAAAAAAAAEABAAAAAAAAAAADYzIBHeAIYnTqzq7wnVkCAQAAAAAAACtA" +
        "AQAAAAAAAPA/AQAAAAAAAAAAA2MwAWGUsnuUEoVQ8J1ZAgEAAAAAAAAuQAEAAAAAAAAAAAEAAAAAAAAAAANjMQF6c6hu6v9LVvCd" +
        "WQIBAAAAAACAMEABAAAAAAAA8L8BAAAAAAAAAAADYzIB3IS3As5gq5E=";

    // The same state as format 5 writes it, and the length and SHA-256 of a larger one (see the test). Format 4
    // wrote the larger one in 169 667 bytes.
    private const string Format5 =
"BQaA+LLlvWjQwIjtvWj///////////8BAOCnEgD///////////8BDD+AstoFAdCABQMBoNEZAgGw0gkDAYCjHgIBkKQOAwHg9CIC" +
        "AfD1EgIBgPcCAwHQxxcCAeDIBwMBsJkcAgHAmgwB4NQDAP///////////wEAAAAAAAAAAAydAYD6wxwC0IAFAAAAAACAMEAMAuDU" +
        "AwAAAAAAAC5ADALwqAIAAAAAAAArQAwCgH0AAAAAAAAoQA0C0PoGAAAAAAAAJUAMAuDOBQAAAAAAACJADALwogQAAAAAAAAeQAwC" +
        "gPcCAAAAAAAAGEAMApDLAQAAAAAAABJADAKgHwAAAAAAAAhADQLwnAYAAAAAAAD4PwwCgPEEAAAAAAAAAAAG4KcSAP//////////" +
        "/wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMnwGAstoFBtCABQAAAAAAAPC/Awag0RkAAAAAAAAAAAIGsNIJAAAAAAAA8D8DBoCj" +
        "HgAAAAAAAABAAgaQpA4AAAAAAAAIQAMG4PQiAAAAAAAAEEACBvD1EgAAAAAAABRAAgaA9wIAAAAAAAAYQAMG0McXAAAAAAAAHEAC" +
        "BuDIBwAAAAAAACBAAwawmRwAAAAAAAAiQAIGwJoMAAAAAAAAJEAFgLiZKQD///////////8B////////////Af///////////wEA" +
        "ARDOxAIY0LDoLdCw6C0WA2MyB+CnEgD///////////8BAAyTAYCy2gUB0IAFAQABABoJAQMBoNEZAQABAGQFAQIBsNIJAQABAAgF" +
        "AgMBgKMeAQABAOwKAQIBkKQOAQABALgNBgMB4PQiAQABABoJAQIB8PUSAQABAGQFAQIBgPcCAQABAAgFAgMB0McXAQABAOwKAQIB" +
        "4MgHAQABALgNBgMBsJkcAQABABoJAQIBwJoMAQABAGQFAQCAuJkpAP///////////wEBCM7EAgzQsOgtAQjOxAIM0LDoLf//////" +
        "/////wEMgPiy5b1oAAMAAxQDAANjMAEBWQHwnVkCBB4DEgMAA2MxAYFGAvCdWQIDBgMQAwADYzIBBm4D8J1ZAgRaAw4DAANjMAEB" +
        "uwLwnVkCAwwIAwADYzEBAkIB8J1ZAgSWAQMKAwADYzIBAVkB8J1ZAgMSAwgDAANjMAGBRgLwnVkCBNIBAwYDAANjMQEGbgPwnVkC" +
        "AxgDBAMAA2MyAQG7AvCdWQIEjgIDAgMAA2MwAQJCAfCdWQIDHgMAAwADYzEBAVkB8J1ZAgTKAgMBAwADYzIBgUYC";

    private const string LargeFormat5Sha256 = "120554:F97BE9820E57F1C36B4134CBB22843057D118B05D7851281AF84B86FBE067205";

    private static readonly WindowedFeature[] Features =
    [
        new(AggregationKind.Count, WindowSpec.WithDefaultHop(3_600_000)),
        new(AggregationKind.Sum, new WindowSpec(3_600_000, 60_000)),
        new(AggregationKind.StdDev, WindowSpec.WithDefaultHop(7_200_000)),
        new(AggregationKind.Last, WindowSpec.Lifetime(), TextValued: true),
        new(AggregationKind.ApproxDistinct, WindowSpec.WithDefaultHop(7_200_000)),
        new(AggregationKind.Count, WindowSpec.Lifetime()),
    ];

    // Instants before, among and after the events, on and off tile edges.
    private static readonly long[] Instants = [T0 - 1, T0, T0 + 731_000, T0 + 3_000_000, T0 + 3_600_000, T0 + 8_041_000, T0 + 9_000_000, T0 + 10_800_000, T0 + 86_400_000];

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void A_state_stored_in_an_earlier_format_reads_as_the_state_it_was_written_from(int format)
    {
        var expected = Build();
        var stored = Convert.FromBase64String(format == 3 ? Format3 : Format4);
        Assert.Equal(format, stored[0]);
        var read = ViewWindowState.ReadFrom(stored, Features, 86_400_000);
        AssertSameValues(expected, read, Instants);

        var lookup = new ViewWindowState(Features, 86_400_000);
        foreach (var t in Instants)
        {
            lookup.LoadForEvaluation(stored, t);
            AssertSameValues(expected, lookup, [t]);
        }

        // Written again, it is the current format, byte for byte what the state it was written from writes.
        var buffer = new ArrayBufferWriter<byte>();
        read.WriteTo(buffer);
        Assert.Equal(5, buffer.WrittenSpan[0]);
        Assert.Equal(Format5, Convert.ToBase64String(buffer.WrittenSpan));
        AssertSameValues(expected, ViewWindowState.ReadFrom(buffer.WrittenSpan, Features, 86_400_000), Instants);
    }

    [Fact]
    public void The_current_format_is_written_byte_for_byte_as_pinned()
    {
        // Build()'s state, and a state of 2 000 events (tens of kilobytes, mostly raw entries, texts of up to 80
        // bytes), as format 5 wrote them when pinned: an encoder change that alters a byte fails here, not in the
        // stores already written.
        var buffer = new ArrayBufferWriter<byte>();
        Build().WriteTo(buffer);
        Assert.Equal(Format5, Convert.ToBase64String(buffer.WrittenSpan));

        buffer = new ArrayBufferWriter<byte>(16);
        Build(events: 2_000).WriteTo(buffer);
        Assert.Equal(LargeFormat5Sha256, $"{buffer.WrittenCount}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(buffer.WrittenSpan))}");
    }

    [Fact]
    public void Raw_inputs_that_repeat_a_value_are_written_once_and_read_back_as_they_were()
    {
        // A view as users write them: one field read by sum, mean, max and stddev, last of a number and of a text,
        // distinct of a text, with values repeating from event to event, some absent.
        WindowedFeature[] features =
        [
            new(AggregationKind.Sum, new WindowSpec(3_600_000, 60_000)),
            new(AggregationKind.Mean, WindowSpec.WithDefaultHop(86_400_000)),
            new(AggregationKind.Max, WindowSpec.WithDefaultHop(86_400_000)),
            new(AggregationKind.StdDev, WindowSpec.WithDefaultHop(7 * 86_400_000L)),
            new(AggregationKind.Last, WindowSpec.Lifetime()),
            new(AggregationKind.Last, WindowSpec.Lifetime(), TextValued: true),
            new(AggregationKind.ApproxDistinct, WindowSpec.WithDefaultHop(86_400_000)),
            new(AggregationKind.Count, WindowSpec.Lifetime()),
            new(AggregationKind.Min, WindowSpec.WithDefaultHop(3_600_000)),
        ];
        const long ttl = 7 * 86_400_000L;
        ViewWindowState Fill(bool retainRaw)
        {
            var random = new Random(11);
            var state = new ViewWindowState(features, ttl) { RetainRaw = retainRaw };
            for (var e = 0; e < 300; e++)
            {
                var amount = random.Next(4) * 12.5;
                var present = random.Next(6) != 0;
                var number = present ? FeatureInput.OfNumber(amount) : FeatureInput.Absent;
                FeatureInput[] inputs =
                [
                    number, number, number, number,
                    random.Next(5) == 0 ? FeatureInput.Absent : FeatureInput.OfNumber(random.Next(3) * 12.5),
                    FeatureInput.OfText(random.Next(8) != 0 ? "FR" : "c" + random.Next(1_000)),
                    random.Next(7) == 0 ? FeatureInput.Absent : FeatureInput.OfText("m" + random.Next(2)),
                    FeatureInput.Absent,
                    random.Next(3) == 0 ? FeatureInput.Absent : FeatureInput.OfNumber(random.Next(4) * 12.5),
                ];
                // Out of order, within a day: every tile needs its raw entries to be cut.
                state.Add(T0 + random.NextInt64(86_400_000), e, inputs);
            }

            return state;
        }

        var repeating = Fill(retainRaw: true);
        var buffer = new ArrayBufferWriter<byte>();
        repeating.WriteTo(buffer);
        var stored = buffer.WrittenSpan.ToArray();

        // Each input written whole, an entry would take ~80 bytes (8 numbers, a hash, a text); these take ~18.
        var withoutRaw = new ArrayBufferWriter<byte>();
        Fill(retainRaw: false).WriteTo(withoutRaw);
        var perEntry = (stored.Length - withoutRaw.WrittenCount) / 300.0;
        Assert.InRange(perEntry, 10, 25);

        // Read whole, and as lookups at instants inside tiles (the raw entries cut them): the same values.
        long[] instants = [.. Enumerable.Range(0, 60).Select(i => T0 - 1 + (i * 1_465_111L)), T0 + 86_400_000, T0 + ttl];
        var read = ViewWindowState.ReadFrom(stored, features, ttl);
        var lookup = new ViewWindowState(features, ttl);
        var want = new FeatureValue[features.Length];
        var got = new FeatureValue[features.Length];
        foreach (var t in instants)
        {
            Assert.True(repeating.Evaluate(t, want));
            Assert.True(read.Evaluate(t, got));
            Assert.Equal(want, got);
            lookup.LoadForEvaluation(stored, t);
            Assert.True(lookup.Evaluate(t, got));
            Assert.Equal(want, got);
        }

        // Written again, the same bytes.
        var again = new ArrayBufferWriter<byte>();
        read.WriteTo(again);
        Assert.Equal(stored, again.WrittenSpan.ToArray());
    }

    [Fact]
    public void Raw_numbers_and_hashes_read_back_bit_for_bit_or_as_the_same_sketch_register()
    {
        // Decimals are written as a count of units to thousandths, anything else as the double: each must
        // read back as the same bits, signed zeros and values at the edges of each form included.
        double[] numbers =
        [
            0, -0.0, 1, -1, 0.1, 0.2, 0.30000000000000004, 12.5, -1234.5, 123.456, 0.001, 0.0005, 1e-3 + 1e-15,
            (1L << 41) - 1, 1L << 41, 2_199_023_255.551, 1e300, -1e-300, double.Epsilon, Math.PI, 9_007_199_254_740_993,
            double.MaxValue, double.NaN, double.PositiveInfinity,
        ];
        WindowedFeature[] features =
        [
            new(AggregationKind.Last, WindowSpec.Lifetime()),
            new(AggregationKind.ApproxDistinct, WindowSpec.WithDefaultHop(3_600_000)),
        ];
        var state = new ViewWindowState(features, 86_400_000);
        var random = new Random(3);
        var hashes = new ulong[numbers.Length];
        for (var i = 0; i < numbers.Length; i++)
        {
            // Hashes of every rank, from the highest register's to the lowest's.
            hashes[i] = i == 0 ? ulong.MaxValue : i == 1 ? 0 : (ulong)random.NextInt64() >> random.Next(64);
            state.Add(T0 + (i * 1_000), i, [FeatureInput.OfNumber(numbers[i]), new FeatureInput(true, 0, hashes[i], null)]);
        }

        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        var read = ViewWindowState.ReadFrom(buffer.WrittenSpan, features, 86_400_000);
        var values = new FeatureValue[2];
        for (var i = 0; i < numbers.Length; i++)
        {
            // Between two events of one tile: the raw entries cut it.
            Assert.True(read.Evaluate(T0 + (i * 1_000) + 500, values));
            Assert.Equal(BitConverter.DoubleToInt64Bits(numbers[i]), BitConverter.DoubleToInt64Bits(values[0].Double));

            var sketch = new HyperLogLog();
            foreach (var hash in hashes.Take(i + 1))
            {
                sketch.Add(hash);
            }

            Assert.Equal(sketch.Estimate(), values[1].Int64);
        }

        // The hash read back sets the same register to the same rank as the hash written, for every rank.
        var hashesOfEveryRank = Enumerable.Range(0, 64).Select(b => 1UL << b).Concat<ulong>([0, ulong.MaxValue, 0xFFF0_0000_0000_0000])
            .Concat(Enumerable.Range(0, 2_000).Select(_ => (ulong)random.NextInt64() >> random.Next(64)));
        foreach (var hash in hashesOfEveryRank)
        {
            var written = new HyperLogLog();
            written.Add(hash);
            var readBack = new HyperLogLog();
            readBack.Add(ViewWindowState.HashOf(ViewWindowState.SketchPosition(hash)));
            Assert.Equal(Bytes(written), Bytes(readBack));
        }

        static byte[] Bytes(HyperLogLog sketch)
        {
            var bytes = new ArrayBufferWriter<byte>();
            sketch.WriteTo(bytes);
            return bytes.WrittenSpan.ToArray();
        }
    }

    [Fact]
    public void A_lookup_reads_the_same_values_as_the_whole_state_at_every_instant()
    {
        var state = Build();
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        var lookup = new ViewWindowState(Features, 86_400_000);
        for (var t = T0 - 60_000; t <= T0 + (4 * 3_600_000); t += 7_919)
        {
            lookup.LoadForEvaluation(buffer.WrittenSpan, t);
            AssertSameValues(state, lookup, [t]);
        }
    }

    [Fact]
    public void A_stamped_share_reads_as_the_state_behind_its_stamp_and_gives_its_offset()
    {
        var state = Build();
        var plain = new ArrayBufferWriter<byte>();
        state.WriteTo(plain);
        var stamped = new ArrayBufferWriter<byte>();
        ShareStamp.Write(stamped, 1L << 40);
        state.WriteTo(stamped);

        Assert.Equal(1L << 40, ShareStamp.Read(stamped.WrittenSpan));
        Assert.Null(ShareStamp.Read(plain.WrittenSpan));
        Assert.Null(ShareStamp.Read([]));
        Assert.True(ShareStamp.Payload(stamped.WrittenSpan).SequenceEqual(plain.WrittenSpan));
        Assert.Equal(ViewWindowState.StoredLastEventTime(plain.WrittenSpan), ViewWindowState.StoredLastEventTime(stamped.WrittenSpan));
        var read = ViewWindowState.ReadFrom(stamped.WrittenSpan, Features, 86_400_000);
        var lookup = new ViewWindowState(Features, 86_400_000);
        lookup.LoadForEvaluation(stamped.WrittenSpan, T0 + 60_000);
        AssertSameValues(state, read, [T0, T0 + 3_600_000]);
        AssertSameValues(state, lookup, [T0 + 60_000]);

        // The marker is never a format version: an unstamped share is not mistaken for a stamped one.
        Assert.NotEqual(ShareStamp.Marker, plain.WrittenSpan[0]);
    }

    [Fact]
    public void One_state_reading_entity_after_entity_reads_each_as_a_new_state_does()
    {
        // A lookup or an ingest worker loads entity after entity into one state, which reuses the sketches and
        // texts of the last one: sparse sketches of a few and of many registers, dense ones (past 1 024
        // registers), none, and texts of other lengths, in an order where each follows every other kind.
        var random = new Random(7);
        var stored = new List<byte[]>();
        foreach (var distinct in new[] { 0, 3, 40, 700, 3_000, 1, 250, 0, 5_000, 12 })
        {
            var state = new ViewWindowState(Features, 86_400_000);
            var events = Math.Max(12, distinct);
            for (var e = 0; e < events; e++)
            {
                FeatureInput[] inputs =
                [
                    FeatureInput.Absent, FeatureInput.OfNumber(random.Next(100)), FeatureInput.OfNumber(random.NextDouble()),
                    FeatureInput.OfText(new string('c', 1 + random.Next(80))),
                    distinct == 0 ? FeatureInput.Absent : FeatureInput.OfText("m" + (e % distinct)),
                    FeatureInput.Absent,
                ];
                // The many distinct values of a big entity fall in a few tiles, whose sketches turn dense.
                state.Add(T0 + random.NextInt64(distinct > 1_000 ? 600_000 : 3 * 3_600_000), e, inputs);
            }

            var buffer = new ArrayBufferWriter<byte>();
            state.WriteTo(buffer);
            stored.Add(buffer.WrittenSpan.ToArray());
        }

        var reused = new ViewWindowState(Features, 86_400_000);
        for (var round = 0; round < 3; round++)
        {
            foreach (var bytes in stored.OrderBy(_ => random.Next()))
            {
                var fresh = ViewWindowState.ReadFrom(bytes, Features, 86_400_000);
                var t = Instants[random.Next(Instants.Length)];
                reused.LoadForEvaluation(bytes, t);
                AssertSameValues(fresh, reused, [t]);
                reused.LoadFrom(bytes);
                AssertSameValues(fresh, reused, Instants);
            }
        }
    }

    [Fact]
    public void Every_truncated_or_altered_stored_state_is_reported_as_damaged_or_read()
    {
        var buffer = new ArrayBufferWriter<byte>();
        Build().WriteTo(buffer);
        var stored = buffer.WrittenSpan.ToArray();
        for (var length = 0; length < stored.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => ViewWindowState.ReadFrom(stored.AsSpan(0, length), Features, 86_400_000));
        }

        // Any byte set to 0x00, 0x7F or 0xFF: read (some values do make another valid state) or refused as
        // damaged, never another exception.
        var damaged = 0;
        foreach (var value in new byte[] { 0x00, 0x7F, 0xFF })
        {
            for (var i = 0; i < stored.Length; i++)
            {
                var altered = (byte[])stored.Clone();
                altered[i] = value;
                try
                {
                    ViewWindowState.ReadFrom(altered, Features, 86_400_000).Evaluate(T0 + 3_600_000, new FeatureValue[Features.Length]);
                }
                catch (InvalidDataException)
                {
                    damaged++;
                }
            }
        }

        Assert.InRange(damaged, stored.Length / 4, 3 * stored.Length); // most bytes are doubles, which any value leaves valid
    }

    private static ViewWindowState Build(int events = 12)
    {
        var state = new ViewWindowState(Features, 86_400_000);
        for (var e = 0; e < events; e++)
        {
            var time = T0 + (e * 731_000L % 10_800_000);
            FeatureInput[] inputs =
            [
                FeatureInput.Absent, FeatureInput.OfNumber(e * 1.5), FeatureInput.OfNumber(10 - e),
                FeatureInput.OfText(events <= 12 ? "c" + (e % 3) : new string('c', 1 + (e * 7 % 80))), FeatureInput.OfText("m" + (e % 5)), FeatureInput.Absent,
            ];
            state.Add(time, e, inputs);
        }

        return state;
    }

    private static void AssertSameValues(ViewWindowState expected, ViewWindowState actual, long[] instants)
    {
        var want = new FeatureValue[Features.Length];
        var got = new FeatureValue[Features.Length];
        foreach (var t in instants)
        {
            Assert.Equal(expected.Evaluate(t, want), actual.Evaluate(t, got));
            Assert.Equal(want, got);
        }
    }
}
