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

    [Fact]
    public void Random_keyed_requests_with_context_columns_are_the_bytes_the_generated_code_writes()
    {
        var random = new Random(22);
        double[] numbers = [0, -0.0, 1.5, -3, double.MaxValue, double.Epsilon, 1e-300, 12.34];
        for (var i = 0; i < 2_000; i++)
        {
            string[] keys = [.. Enumerable.Range(0, random.Next(i % 10 == 0 ? 200 : 5)).Select(_ => Texts[random.Next(Texts.Length)])];
            var rows = keys.Length;
            var context = new RequestContextColumns(rows);
            var values = Enumerable.Range(0, rows).Select(_ => new List<(string Name, Value Value)>()).ToArray();
            void Column<T>(string name, Func<T> next, Func<T, Value> wire, Action<RequestContextColumns, T[]> add)
            {
                var column = Enumerable.Range(0, rows).Select(_ => next()).ToArray();
                add(context, column);
                for (var r = 0; r < rows; r++)
                {
                    values[r].Add((name, wire(column[r])));
                }
            }

            // Every kind of column, in a random subset and order, under names of every width.
            var names = Texts.Where(t => t.Length > 0).OrderBy(_ => random.Next()).ToArray();
            var n = 0;
            foreach (var kind in Enumerable.Range(0, 6).OrderBy(_ => random.Next()).Take(random.Next(7)))
            {
                var name = names[n++];
                switch (kind)
                {
                    case 0:
                        Column(name, () => numbers[random.Next(numbers.Length)], Value.ForNumber, (c, v) => c.Add(name, v));
                        break;
                    case 1:
                        Column(name, () => random.Next(3) == 0 ? null : (double?)numbers[random.Next(numbers.Length)],
                            v => v is { } d ? Value.ForNumber(d) : Value.ForNull(), (c, v) => c.Add(name, v));
                        break;
                    case 2:
                        Column(name, () => random.NextInt64(-1L << 53, 1L << 53), v => Value.ForNumber(v), (c, v) => c.Add(name, v));
                        break;
                    case 3:
                        Column(name, () => random.Next(4) == 0 ? null : Texts[random.Next(Texts.Length)],
                            v => v is null ? Value.ForNull() : Value.ForString(v), (c, v) => c.Add(name, (IReadOnlyList<string?>)v));
                        break;
                    case 4:
                        Column(name, () => random.Next(2) == 0, Value.ForBool, (c, v) => c.Add(name, v));
                        break;
                    default:
                        Column(name, () => DateTimeOffset.FromUnixTimeMilliseconds(random.NextInt64(-62_135_596_800_000, 253_402_300_799_000)),
                            v => Value.ForNumber(v.ToUnixTimeMilliseconds()), (c, v) => c.Add(name, v));
                        break;
                }
            }

            var expected = new GetOnlineFeaturesRequest { Features = { "payment" } };
            for (var r = 0; r < rows; r++)
            {
                var row = new EntityRow { JoinKeys = { ["user_id"] = keys[r] } };
                foreach (var (name, value) in values[r])
                {
                    row.RequestContext[name] = value;
                }

                expected.Entities.Add(row);
            }

            var written = new KeyedLookupRequest(["payment"], "user_id", keys, null, context).ToByteArray();
            var generated = expected.ToByteArray();
            Assert.True(generated.AsSpan().SequenceEqual(written),
                $"request {i} ({rows} rows): {written.Length} bytes written against {generated.Length}, first difference at {generated.AsSpan().CommonPrefixLength(written)}");
        }
    }

    [Fact]
    public void Context_columns_of_the_wrong_length_or_given_twice_are_refused_naming_the_column()
    {
        var context = new RequestContextColumns(2).Add("amount", [1.0, 2.0]);
        Assert.Contains("'amount'", Assert.Throws<ArgumentException>(() => context.Add("amount", [3.0, 4.0])).Message);
        Assert.Contains("'country' has 1 values for 2 rows", Assert.Throws<ArgumentException>(() => context.Add("country", (IReadOnlyList<string?>)["FR"])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RequestContextColumns(-1));
    }
}
