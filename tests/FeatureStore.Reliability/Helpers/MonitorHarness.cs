using FeatureStore.Core.Definitions;
using FeatureStore.Monitor.Baselines;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Monitor.Tests;
using FeatureStore.Parquet.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Reliability.Helpers;

/// <summary>The monitor scenario's repository with its baseline stored, and the monitor job run in this process.</summary>
internal sealed class MonitorHarness
{
    public const string Secret = "whsec-reliability-5f1c0a9e";
    public const string SecretVariable = "FS_RELIABILITY_WEBHOOK_SECRET";

    private MonitorHarness(FeatureRepository repository, string keyPrefix, string topic)
    {
        Repository = repository;
        KeyPrefix = keyPrefix;
        Topic = topic;
    }

    public FeatureRepository Repository { get; }

    public string KeyPrefix { get; }

    public string Topic { get; }

    /// <summary>The repository on <paramref name="topic"/> posting to <paramref name="url"/>, with a baseline of mean 0.3 stored.</summary>
    public static async Task<MonitorHarness> CreateAsync(IDatabase db, string topic, string url)
    {
        var repository = MonitorScenario.Repository(topic, url, SecretVariable);
        var model = MonitorScenario.Model(repository);
        var training = MonitorScenario.Scores(seed: 1, count: 5000, mean: 0.3).ToArray();
        var table = new Dictionary<string, ValueColumn>
        {
            ["score"] = new("score", training, null),
            ["segment"] = new("segment", null, [.. training.Select(s => s > 0.3 ? "high" : "low")]),
        };
        var baseline = BaselineComputer.Compute(model, "v1", "training.parquet", 0, table);
        var prefix = "r" + Guid.NewGuid().ToString("N")[..8];
        await new DriftStore(db, prefix, repository.Project).SaveBaselineAsync(baseline);
        return new MonitorHarness(repository, prefix, topic);
    }

    public DriftStore Store(IDatabase db) => new(db, KeyPrefix, Repository.Project);

    /// <summary>Starts the job in the background; dispose stops it and waits.</summary>
    public RunningMonitor Start(string bootstrap, IDatabase db, string group, ILogger? logger = null)
    {
        var metrics = new MonitorMetrics();
        var job = new MonitorJob(Repository, db, KeyPrefix, new MonitorOptions
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            SessionTimeout = TimeSpan.FromSeconds(6),
            Secrets = name => name == SecretVariable ? Secret : null,
            OutboxPollInterval = TimeSpan.FromMilliseconds(100),
            RedeliveryDelay = TimeSpan.FromMilliseconds(200),
            MaxRedeliveryDelay = TimeSpan.FromSeconds(1),
            WebhookRetryDelay = TimeSpan.FromMilliseconds(20),
        }, metrics, logger ?? NullLogger.Instance);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var run = Task.Run(() => job.RunAsync(stop.Token), CancellationToken.None);
        return new RunningMonitor(job, metrics, run, stop);
    }
}

/// <summary>A monitor job running in the background; disposing stops it cleanly and waits for it.</summary>
internal sealed class RunningMonitor(MonitorJob job, MonitorMetrics metrics, Task run, CancellationTokenSource stop) : IAsyncDisposable
{
    public MonitorJob Job { get; } = job;

    public MonitorMetrics Metrics { get; } = metrics;

    public Task Run { get; } = run;

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await Run.WaitAsync(TimeSpan.FromSeconds(60));
        stop.Dispose();
        Metrics.Dispose();
    }
}
