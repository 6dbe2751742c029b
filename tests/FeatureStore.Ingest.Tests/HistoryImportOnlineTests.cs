using System.Globalization;
using FeatureStore.Ingest.History;
using FeatureStore.Parquet.History;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using StackExchange.Redis;

namespace FeatureStore.Ingest.Tests;

/// <summary>
/// History imported into the online store (a share per entity beside the partitions'), then the stream after the
/// cut-over through the real ingest job: lookups equal the §4 reference over both. Embedded Kafka, real redis-server.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HistoryImportOnlineTests(EmbeddedKafkaFixture kafka, RedisServerFixture redis)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-history-online-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public Task Imported_history_then_the_stream_after_the_cutover_look_up_as_the_reference() =>
        ImportThenStreamAsync(kafka, redis.Connection.Database, _dir);

    /// <summary>
    /// Imports 20 000 events of history, streams 6 000 after the cut-over through the ingest job, and compares
    /// every entity with the reference over both (on one redis-server, or on a cluster).
    /// </summary>
    internal static async Task ImportThenStreamAsync(EmbeddedKafkaFixture kafka, IDatabase db, string dir)
    {
        var scenario = new IngestScenario(kafka.CreateTopic("history", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cutover = now - (3 * 3_600_000) - 1; // the stream's events (the last three hours) all after it
        const int historyCount = 20_000;
        var file = History(scenario, Path.Combine(dir, "history.jsonl"), historyCount, cutover, seed: 7);

        var done = await ImportAsync(scenario, db, file, cutover, dir);
        // A tenth of the stream's events repeat an earlier event's time, some a history one: those are the history's.
        scenario.Produce(kafka.BootstrapServers, count: 6_000, users: 400, seed: 8, nowMs: now, firstIndex: historyCount, countsFrom: cutover);
        using var metrics = new IngestMetrics();
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        Assert.Equal(historyCount, done.Accepted);
        Assert.All(done.Views, v => Assert.True(v.Online > 0, v.View));
        Assert.Equal(scenario.Count - historyCount, metrics.EventsTotal);
        Assert.Equal(6_000 - metrics.EventsTotal, metrics.HistoryOwnedTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (90 * 60_000));
    }

    // Unsorted history before the cut-over: a third of it one hot user's, the rest Pareto-skewed over 3 000 users.
    private static string History(IngestScenario scenario, string path, int count, long cutover, int seed)
    {
        var random = new Random(seed);
        using var file = new StreamWriter(path);
        for (var i = 0; i < count; i++)
        {
            var user = random.Next(3) == 0 ? "u0" : "u" + ((int)(3_000 * Math.Pow(random.NextDouble(), 3))).ToString(CultureInfo.InvariantCulture);
            file.WriteLine(System.Text.Encoding.UTF8.GetString(scenario.Draw(random, user, cutover - 1, i, counts: true)));
        }

        return path;
    }

    private Task<HistoryImportResult> ImportAsync(IngestScenario scenario, IDatabase db, string file, long cutover) =>
        ImportAsync(scenario, db, file, cutover, _dir);

    private static async Task<HistoryImportResult> ImportAsync(IngestScenario scenario, IDatabase db, string file, long cutover, string dir) =>
        await HistoryImport.RunAsync(scenario.Compiled.Sources[0], scenario.Compiled.Repository.Settings, new HistoryImportOptions([file])
        {
            StoreDirectory = Path.Combine(dir, "offline"),
            CutoverMs = cutover,
            MaxSpillRecords = 4_000, // several sorted runs to merge
            SpillDirectory = dir,
            Online = new HistoryOnlineWriter(db, new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project), scenario.Compiled.Repository.Settings.AllowedLatenessMs),
        }, null, Ct);

    [Fact]
    public async Task Stream_events_before_the_cutover_are_the_historys_and_skipped_by_ingest()
    {
        var scenario = new IngestScenario(kafka.CreateTopic("handover", partitions: 4));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cutover = now - 3_600_000; // the topic still holds two hours of events before it
        const int historyCount = 8_000;
        var file = History(scenario, Path.Combine(_dir, "history.jsonl"), historyCount, cutover, seed: 17);
        var db = redis.Connection.Database;
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);

        await ImportAsync(scenario, db, file, cutover);
        scenario.Produce(kafka.BootstrapServers, count: 6_000, users: 400, seed: 18, nowMs: now, firstIndex: historyCount, countsFrom: cutover);
        using var metrics = new IngestMetrics();
        await scenario.IngestAllAsync(kafka.BootstrapServers, db, metrics, Ct);

        Assert.Equal(cutover, (long)await db.HashGetAsync(keys.History(scenario.Compiled.Sources[0].Definition.Name), "cutover_ms"));
        var streamed = scenario.Count - historyCount;
        Assert.InRange(streamed, 1_000, 5_000);
        Assert.Equal(streamed, metrics.EventsTotal);
        Assert.Equal(6_000 - streamed, metrics.HistoryOwnedTotal);
        Assert.Equal(0, metrics.DeadLetteredTotal);
        await scenario.AssertOnlineEqualsReferenceAsync(db, scenario.MaxTime);
        await scenario.AssertOnlineEqualsReferenceAsync(db, now + (90 * 60_000));
    }

    [Fact]
    public async Task Importing_the_same_history_again_leaves_the_online_bytes_as_they_were()
    {
        var scenario = new IngestScenario("history-again-" + Guid.NewGuid().ToString("N")[..6]);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var file = History(scenario, Path.Combine(_dir, "history.jsonl"), 5_000, now, seed: 9);
        var db = redis.Connection.Database;
        var first = await ImportAsync(scenario, db, file, now);
        var view = scenario.Compiled.Views[0];
        var keys = new OnlineKeys(scenario.KeyPrefix, IngestScenario.Project);
        var before = await db.HashGetAllAsync(keys.Entity(view.Groups[0], "u0"));

        // A rerun after a kill before the marker writes everything again: the same bytes.
        File.Delete(Directory.EnumerateFiles(Path.Combine(_dir, "offline"), "p-0001-*.json", SearchOption.AllDirectories).Single());
        var again = await ImportAsync(scenario, db, file, now);

        Assert.False(again.AlreadyImported);
        Assert.Equal(first.Views.Select(v => v.Online), again.Views.Select(v => v.Online));
        var after = await db.HashGetAllAsync(keys.Entity(view.Groups[0], "u0"));
        Assert.Single(after);
        Assert.Equal(before.Select(e => ((string?)e.Name, (byte[]?)e.Value)), after.Select(e => ((string?)e.Name, (byte[]?)e.Value)));
        await scenario.AssertOnlineEqualsReferenceAsync(db, now);
    }
}

/// <summary>History imported into a real six-node Redis Cluster (its shares written slot by slot), then the stream.</summary>
[Trait("Category", "Integration")]
public sealed class ClusterHistoryImportOnlineTests(EmbeddedKafkaFixture kafka, RedisClusterFixture cluster)
    : IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisClusterFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-history-cluster-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public Task Imported_history_then_the_stream_after_the_cutover_look_up_as_the_reference() =>
        HistoryImportOnlineTests.ImportThenStreamAsync(kafka, cluster.Connection.Database, _dir);
}
