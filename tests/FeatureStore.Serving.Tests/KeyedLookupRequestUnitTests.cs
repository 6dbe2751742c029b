using FeatureStore.Client;
using FeatureStore.Contracts.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FeatureStore.Serving.Tests;

/// <summary>The client's keyed lookup request, written by hand, against the generated code's bytes for the same request.</summary>
public sealed class KeyedLookupRequestUnitTests
{
    private static readonly string[] Texts = ["", "u1", "user_stats:n_1h", "Zürich", "日本", "𝄞 clef", "a|b", new string('x', 130), new string('y', 20_000)];

    [Fact]
    public void Random_keyed_requests_are_the_bytes_the_generated_code_writes()
    {
        var random = new Random(21);
        for (var i = 0; i < 3_000; i++)
        {
            string[] features = [.. Enumerable.Range(0, random.Next(4)).Select(_ => Texts[random.Next(Texts.Length)])];
            var joinKey = Texts[1 + random.Next(Texts.Length - 1)];
            string[] keys = [.. Enumerable.Range(0, random.Next(i % 10 == 0 ? 300 : 5)).Select(_ => Texts[random.Next(Texts.Length)])];
            Timestamp? asOf = random.Next(3) switch
            {
                0 => null,
                1 => Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(random.NextInt64(-62_135_596_800_000, 253_402_300_799_000))),
                _ => new Timestamp { Seconds = random.Next(2) * random.NextInt64(), Nanos = random.Next(2) * random.Next(1_000_000_000) },
            };

            var expected = new GetOnlineFeaturesRequest { AsOf = asOf };
            expected.Features.AddRange(features);
            foreach (var key in keys)
            {
                expected.Entities.Add(new EntityRow { JoinKeys = { [joinKey] = key } });
            }

            var written = new KeyedLookupRequest(features, joinKey, keys, asOf is null ? null : (asOf.Seconds, asOf.Nanos)).ToByteArray();
            var generated = expected.ToByteArray();
            Assert.True(generated.AsSpan().SequenceEqual(written),
                $"request {i} ({features.Length} features, {keys.Length} keys, as_of {asOf?.Seconds}/{asOf?.Nanos}): {written.Length} bytes written against {generated.Length}, first difference at {generated.AsSpan().CommonPrefixLength(written)}");
            Assert.Equal(expected, GetOnlineFeaturesRequest.Parser.ParseFrom(written));
        }
    }
}
