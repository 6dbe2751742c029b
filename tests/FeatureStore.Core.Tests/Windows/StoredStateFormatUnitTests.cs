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

    // The same state as format 4 writes it, and the length and SHA-256 of a larger one (see the test).
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

    private const string LargeFormat4Sha256 = "169667:0C03ED6C9DF93D11725F9B078548C964AD4F171C20C1E285A74465BD90CC81A9";

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

    [Fact]
    public void A_state_stored_in_format_3_reads_as_the_state_it_was_written_from()
    {
        var expected = Build();
        var stored = Convert.FromBase64String(Format3);
        Assert.Equal(3, stored[0]);
        var read = ViewWindowState.ReadFrom(stored, Features, 86_400_000);
        AssertSameValues(expected, read, Instants);

        var lookup = new ViewWindowState(Features, 86_400_000);
        foreach (var t in Instants)
        {
            lookup.LoadForEvaluation(stored, t);
            AssertSameValues(expected, lookup, [t]);
        }

        // Written again, it is the current format and reads the same.
        var buffer = new ArrayBufferWriter<byte>();
        read.WriteTo(buffer);
        Assert.Equal(4, buffer.WrittenSpan[0]);
        AssertSameValues(expected, ViewWindowState.ReadFrom(buffer.WrittenSpan, Features, 86_400_000), Instants);
    }

    [Fact]
    public void The_current_format_is_written_byte_for_byte_as_pinned()
    {
        // Build()'s state, and a state of 2 000 events (tens of kilobytes, mostly raw entries, texts of up to 80
        // bytes), as format 4 wrote them when pinned: an encoder change that alters a byte fails here, not in the
        // stores already written.
        var buffer = new ArrayBufferWriter<byte>();
        Build().WriteTo(buffer);
        Assert.Equal(Format4, Convert.ToBase64String(buffer.WrittenSpan));

        buffer = new ArrayBufferWriter<byte>(16);
        Build(events: 2_000).WriteTo(buffer);
        Assert.Equal(LargeFormat4Sha256, $"{buffer.WrittenCount}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(buffer.WrittenSpan))}");
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
