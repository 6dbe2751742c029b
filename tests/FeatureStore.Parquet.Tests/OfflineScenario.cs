using System.Globalization;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Tables;
using FeatureStore.Testing;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// Payments for offline tests: a repository over a unique topic, seeded random events (out of order,
/// with equal times), written to an event log directly or produced to Kafka, and the §4 reference.
/// </summary>
internal sealed class OfflineScenario
{
    public const int Partitions = 4;

    public OfflineScenario(string topic, int count, int users, int seed, long nowMs)
    {
        Topic = topic;
        var load = FeatureRepositoryLoader.LoadFromText(RepositoryYaml, "offline.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        Compiled = CompiledRepository.Compile(load.Repository!);
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var user = "u" + random.Next(users).ToString(CultureInfo.InvariantCulture);
            var time = nowMs - random.NextInt64(0, 3 * 3_600_000);
            if (random.Next(10) == 0 && Events.Count > 0)
            {
                time = Events[random.Next(Events.Count)].Time;
            }

            var amount = random.Next(20) == 0 ? (double?)null : Math.Round(random.NextDouble() * 500, 2);
            Events.Add(new Payment(user, "m" + random.Next(50).ToString(CultureInfo.InvariantCulture), amount,
                new[] { "FR", "DE", "IT", "ES" }[random.Next(4)], time, i));
        }
    }

    public string Topic { get; }

    public CompiledRepository Compiled { get; }

    public List<Payment> Events { get; } = [];

    public long MaxTime => Events.Max(e => e.Time);

    public long MinTime => Events.Min(e => e.Time);

    public string RepositoryYaml => RepositoryText.Replace("TOPIC", Topic, StringComparison.Ordinal);

    /// <summary>
    /// Writes the events with index in [<paramref name="from"/>, <paramref name="to"/>) to the log in
    /// <paramref name="root"/>, in batches of <paramref name="batch"/>, partitioned by user; offsets are positions in the partition.
    /// </summary>
    public async Task WriteLogAsync(string root, CancellationToken cancellationToken, int from = 0, int to = int.MaxValue, int batch = 700, Func<Payment, bool>? where = null)
    {
        var source = Compiled.Sources[0];
        var writer = new EventLogWriter(root, source);
        var parser = new EventParser(source.Schema);
        var partitions = Enumerable.Range(0, Partitions).Select(p => Events.Where(e => StablePartition(e.User) == p && (where is null || where(e))).ToList()).ToArray();
        for (var p = 0; p < Partitions; p++)
        {
            var first = partitions[p].FindIndex(e => e.Index >= from);
            var end = partitions[p].FindIndex(e => e.Index >= to);
            first = first < 0 ? partitions[p].Count : first;
            end = end < 0 ? partitions[p].Count : end;
            for (var start = first; start < end; start += batch)
            {
                var rows = new Dictionary<long, EventRowBuffer>();
                var events = partitions[p].Skip(start).Take(Math.Min(batch, end - start)).ToList();
                for (var i = 0; i < events.Count; i++)
                {
                    Assert.Equal(ParseError.None, parser.Parse(Encoding.UTF8.GetBytes(events[i].Json)));
                    var day = TileMath.FloorDiv(parser.EventTimeMs, 86_400_000);
                    if (!rows.TryGetValue(day, out var buffer))
                    {
                        buffer = new EventRowBuffer(source.Schema);
                        rows[day] = buffer;
                    }

                    buffer.Add(parser, start + i);
                }

                Assert.True(await writer.CommitAsync(Topic, p, start, start + events.Count, long.MinValue, rows, cancellationToken));
            }
        }
    }

    /// <summary>Writes the events as a JSON-lines file.</summary>
    public void WriteEventsFile(string path) => File.WriteAllLines(path, Events.Select(e => e.Json));

    /// <summary>Produces the events with index in [<paramref name="from"/>, <paramref name="to"/>), keyed by user.</summary>
    public void Produce(string bootstrap, int from = 0, int to = int.MaxValue)
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
        }).Build();
        var failures = 0;
        foreach (var e in Events.Where(e => e.Index >= from && e.Index < to))
        {
            producer.Produce(Topic, new Message<string, byte[]> { Key = e.User, Value = Encoding.UTF8.GetBytes(e.Json) }, r =>
            {
                if (r.Error.IsError)
                {
                    Interlocked.Increment(ref failures);
                }
            });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        Assert.Equal(0, failures);
    }

    /// <summary>An entity table: users (one never seen), instants around and at event times, and pass-through columns.</summary>
    public Table EntityTable(int rows, int seed)
    {
        var random = new Random(seed);
        var users = new string?[rows];
        var merchants = new string?[rows];
        var times = new long?[rows];
        var labels = new bool?[rows];
        var notes = new string?[rows];
        var weights = new double?[rows];
        for (var r = 0; r < rows; r++)
        {
            var e = Events[random.Next(Events.Count)];
            users[r] = random.Next(25) == 0 ? "nobody" : e.User;
            merchants[r] = e.Merchant;
            times[r] = random.Next(3) switch
            {
                0 => e.Time,
                1 => e.Time + random.Next(-90_000, 90_000),
                _ => random.NextInt64(MinTime - 3_600_000, MaxTime + (26 * 3_600_000)),
            };
            labels[r] = random.Next(2) == 0 ? null : random.Next(2) == 0;
            notes[r] = random.Next(3) == 0 ? null : $"note {r}, \"quoted\"";
            weights[r] = random.NextDouble();
        }

        return new Table(
        [
            new TableColumn("label", labels),
            new TableColumn("user_id", users),
            new TableColumn("event_timestamp", times),
            new TableColumn("note", notes),
            new TableColumn("merchant_id", merchants),
            new TableColumn("weight", weights),
        ], rows);
    }

    /// <summary>The reference value of a view's feature for an entity at <paramref name="t"/>.</summary>
    public object? Expected(CompiledView view, int feature, string entity, long t) => ExpectedValue(view, feature, entity, t).Boxed;

    /// <summary>The reference value of a view's feature for an entity at <paramref name="t"/>, with its status and event time.</summary>
    public FeatureValue ExpectedValue(CompiledView view, int feature, string entity, long t)
    {
        if (!_reference.TryGetValue((view.Name, entity, t), out var values))
        {
            if (!_byEntity.TryGetValue((view.Name, entity), out var events))
            {
                events = [.. Events.Where(e => (view.Name == "user_stats" ? e.User : e.Merchant) == entity)
                    .Select(e => new TestEvent(e.Time, e.Index, Inputs(view, e)))];
                _byEntity[(view.Name, entity)] = events;
            }

            values = NaiveReference.Evaluate(events, view.Features, view.TtlMs, t);
            _reference[(view.Name, entity, t)] = values;
        }

        return values[feature];
    }

    private readonly Dictionary<(string, string), List<TestEvent>> _byEntity = [];
    private readonly Dictionary<(string, string, long), FeatureValue[]> _reference = [];

    private static FeatureInput[] Inputs(CompiledView view, Payment e) =>
        [.. view.Definition.Features.Select(f => f.Field switch
        {
            null => FeatureInput.Absent,
            "amount" => e.Amount is { } a ? FeatureInput.OfNumber(a) : FeatureInput.Absent,
            "merchant_id" => FeatureInput.OfText(e.Merchant),
            "country" => FeatureInput.OfText(e.Country),
            _ => throw new InvalidOperationException(f.Field),
        })];

    // A partition per user that does not depend on the process's string hash seed.
    private static int StablePartition(string user) => user.Sum(c => c) % Partitions;

    internal sealed record Payment(string User, string Merchant, double? Amount, string Country, long Time, int Index)
    {
        public string Json => $$"""{"user_id":"{{User}}","merchant_id":"{{Merchant}}","amount":{{(Amount is { } a ? a.ToString(CultureInfo.InvariantCulture) : "null")}},"country":"{{Country}}","ts":{{Time}}}""";
    }

    /// <summary>Asserts that every feature column of <paramref name="exported"/> equals the §4 reference at each entity row's time.</summary>
    internal void AssertFeaturesEqualReference(Table entities, Table exported)
    {
        var times = (long?[])entities.Find("event_timestamp")!.Values;
        foreach (var column in exported.Columns.Where(c => c.Name.Contains("__", StringComparison.Ordinal)))
        {
            var parts = column.Name.Split("__");
            var view = Compiled.FindView(parts[0])!;
            var feature = view.IndexOf(parts[1]);
            var keys = (string?[])entities.Find(view.Name == "user_stats" ? "user_id" : "merchant_id")!.Values;
            for (var r = 0; r < exported.RowCount; r++)
            {
                var expected = Expected(view, feature, keys[r]!, times[r]!.Value);
                var actual = column.Values.GetValue(r);
                Assert.True(Same(expected, actual), $"{column.Name} row {r} ({keys[r]} at {times[r]}): expected {expected ?? "null"}, got {actual ?? "null"}");
            }
        }
    }

    /// <summary>Equal values: integers exactly, doubles to 1e-9 relative, text exactly, null only with null.</summary>
    internal static bool Same(object? expected, object? actual) => (expected, actual) switch
    {
        (null, null) => true,
        (long a, long b) => a == b,
        (double a, double b) => Math.Abs(a - b) <= 1e-9 * Math.Max(1, Math.Abs(a)),
        (string a, string b) => a == b,
        _ => false,
    };

    private static string RepositoryText => PaymentsRepository.WindowsYaml("offtest");
}
