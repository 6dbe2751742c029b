using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Performance;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using static FeatureStore.Monitor.Tests.Performance.PerformanceScenario;

namespace FeatureStore.Monitor.Tests.Performance;

/// <summary>
/// A job started on a backlog: every prediction and label produced before it starts, over several partitions per
/// topic, so the consumer reads the partitions of both topics at unequal paces. Every label still joins once, none
/// is counted late or unmatched, and every window is evaluated whole.
/// </summary>
[Trait("Category", "Integration")]
public abstract class PerformanceBacklogTests(EmbeddedKafkaFixture kafka, IOnlineStoreFixture store)
{
    private const int Windows = 20;
    private const int PerWindow = 1000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task A_backlog_joins_every_label_once_and_evaluates_every_window_whole(int partitions)
    {
        var topic = kafka.CreateTopic("predictions", partitions);
        var labelsTopic = kafka.CreateTopic("labels", partitions);
        kafka.Cluster.CreateTopic(topic + ".dlq", 1);
        kafka.Cluster.CreateTopic(labelsTopic + ".dlq", 1);
        var repository = Repository(topic, labelsTopic, "http://127.0.0.1:9/hook");
        var predictions = Enumerable.Range(0, Windows).Select(w => Predictions(seed: 70 + w, T0 + (w * WindowMs), PerWindow)).ToList();
        var labels = predictions.SelectMany((p, w) => Labels(seed: 90 + w, p)).ToList();
        var closer = new Prediction("closer", T0 + ((Windows + 1) * WindowMs), 0.5, "a");
        var closerLabel = new Label("closer", closer.TimeMs + 1, true);
        using (var producer = kafka.CreateProducer())
        {
            Produce(producer, topic, predictions.SelectMany(p => p).Append(closer));
            Produce(producer, labelsTopic, labels.Append(closerLabel));
        }

        var prefix = "fs" + Guid.NewGuid().ToString("N")[..8];
        var database = store.Connection.Database;
        var performance = new PerformanceStore(database, new Redis.Drift.DriftKeys(prefix, repository.Project));
        await performance.SaveReferenceAsync(Reference("ranker", "v1"));
        var metrics = MonitorMetrics.ForPerformance();
        var job = new PerformanceJob(repository, database, prefix, MonitorScenario.Options(kafka.BootstrapServers, prefix, "secret"), metrics, NullLogger.Instance);
        await using (RunningPerformance.Start(job, metrics, Ct))
        {
            await Eventually.TrueAsync(
                async () => (await performance.HistoryAsync("ranker", "v1")).Count(h => h.Segment is null) >= Windows,
                TimeSpan.FromSeconds(120),
                $"{Windows} windows evaluated on {store.Kind}",
                Ct);
        }

        var counts = await performance.LabelCountsAsync("ranker");
        Assert.Equal(new LabelCounts(labels.Count + 1, 0, 0, 0, 0), counts);
        var whole = (await performance.HistoryAsync("ranker", "v1")).Where(h => h.Segment is null).ToList();
        Assert.Equal(Windows, whole.Count);
        Assert.All(whole, h =>
        {
            Assert.Equal(PerWindow, h.Predictions);
            Assert.Equal(PerWindow, h.Labelled);
        });
    }
}

/// <summary>The backlog on redis-server.</summary>
public sealed class PerformanceBacklogRedisTests(EmbeddedKafkaFixture kafka, RedisServerFixture store)
    : PerformanceBacklogTests(kafka, store), IClassFixture<EmbeddedKafkaFixture>, IClassFixture<RedisServerFixture>;

/// <summary>The backlog on embedded Garnet.</summary>
public sealed class PerformanceBacklogGarnetTests(EmbeddedKafkaFixture kafka, GarnetFixture store)
    : PerformanceBacklogTests(kafka, store), IClassFixture<EmbeddedKafkaFixture>, IClassFixture<GarnetFixture>;
