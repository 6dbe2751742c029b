using FeatureStore.Testing;
using FeatureStore.Host.Configuration;
using FeatureStore.Host.Supervision;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FeatureStore.Host.Tests;

/// <summary>The host's configuration and its supervisor, without services.</summary>
public sealed class HostUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-host-unit-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_example_configuration_reads_with_paths_relative_to_it()
    {
        var example = Path.Combine(RepositoryRoot(), "examples", "fraud", "featurestore.host.yaml");
        var settings = HostConfiguration.Load(example);
        Assert.Equal(Path.Combine(RepositoryRoot(), "examples", "fraud", "featurestore.yaml"), settings.Repository);
        Assert.Equal(Path.Combine(RepositoryRoot(), "examples", "fraud", "offline"), settings.Offline.Directory);
        Assert.Equal("embedded", settings.Redis.Configuration);
        Assert.True(settings.Jobs.Backfill.Enabled);
        Assert.True(settings.Jobs.Compaction.Enabled);
        Assert.Equal(1_000_000, settings.Jobs.Compaction.TargetRows);
        Assert.True(settings.Jobs.Rebuild.Enabled);
        Assert.Equal("5s", settings.Jobs.Rebuild.PollInterval);
        Assert.Null(HostConfiguration.Load(Write("repository: r.yaml")).Jobs.Rebuild.Enabled); // unset: follows ingest and offline
        Assert.Equal(3, settings.Models.RetrainAfterWindows);
        Assert.Equal("oncall", settings.Models.RetrainWebhook);
    }

    [Fact]
    public void Overrides_take_precedence_over_the_file_and_keys_ignore_case()
    {
        var file = Write("""
            redis:
              configuration: redis:6379
            jobs:
              serve:
                httpPort: 7000
                apiKeys: [a, "b:user_stats"]
            """);
        var settings = HostConfiguration.Load(file, new Dictionary<string, string?> { ["JOBS:SERVE:HTTPPORT"] = "8080", ["jobs:monitor:enabled"] = "false" });
        Assert.Equal(8080, settings.Jobs.Serve.HttpPort);
        Assert.False(settings.Jobs.Monitor.Enabled);
        Assert.Equal("redis:6379", settings.Redis.Configuration);
        Assert.Equal(["a", "b:user_stats"], settings.Jobs.Serve.ApiKeys);
        Assert.True(settings.Jobs.Ingest.Enabled);
    }

    [Fact]
    public void Environment_variables_use_the_same_keys()
    {
        const string Name = "FEATURESTORE__JOBS__INGEST__GROUP";
        Environment.SetEnvironmentVariable(Name, "from-env");
        try
        {
            Assert.Equal("from-env", HostConfiguration.Load(Write("jobs: { ingest: { group: from-file } }")).Jobs.Ingest.Group);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Name, null);
        }
    }

    [Theory]
    [InlineData("supervision: { maxBackoff: soon }", "supervision.maxBackoff")]
    [InlineData("log: { format: xml }", "log.format")]
    [InlineData("jobs: { serve: { httpPort: many } }", "httpPort")]
    [InlineData("jobs: [", "")]
    [InlineData("jobs:\n  serve: { apiKeys: [a, b\n  monitor: { enabled: false }\n", ":2:21: not valid YAML: the '[' here is never closed")]
    [InlineData("jobs: { compaction: { interval: often } }", "jobs.compaction.interval")]
    [InlineData("jobs: { compaction: { grace: 0 } }", "jobs.compaction.grace")]
    [InlineData("jobs: { compaction: { targetRows: 1 } }", "jobs.compaction.targetRows")]
    public void A_wrong_value_names_its_key(string yaml, string key)
    {
        var ex = Assert.Throws<HostConfigurationException>(() => HostConfiguration.Load(Write(yaml)));
        Assert.Contains(key, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Unknown_keys_are_refused_with_their_position_and_the_key_meant()
    {
        var file = Write("""
            repository: r.yaml
            jobs:
              serve:
                grpcPrt: 7000
              monitr:
                enabled: false
            kafka:
              settings:
                security.protocol: SSL
            """);
        var ex = Assert.Throws<HostConfigurationException>(() => HostConfiguration.Load(file));
        var lines = ex.Message.Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Equal($"{file}:4:5: unknown key 'jobs.serve.grpcPrt' (did you mean 'grpcPort'?)", lines[0]);
        Assert.Equal($"{file}:5:3: unknown key 'jobs.monitr' (did you mean 'monitor'?)", lines[1]);
    }

    [Theory]
    [InlineData("jobs: { serve: { grpcPort: abc } }", ":1:28: jobs.serve.grpcPort: 'abc' is not a port number (0 to 65535)")]
    [InlineData("jobs:\n  ingest:\n    enabled: maybe\n", ":3:14: jobs.ingest.enabled: 'maybe' is not true or false")]
    [InlineData("kafka: { embeddedPartitions: 99999999999 }", "kafka.embeddedPartitions: '99999999999' is not a whole number from -2147483648 to 2147483647")]
    public void A_value_of_the_wrong_type_names_its_key_its_value_and_what_is_expected(string yaml, string expected)
    {
        var ex = Assert.Throws<HostConfigurationException>(() => HostConfiguration.Load(Write(yaml)));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_of_the_wrong_type_from_the_environment_names_the_variable()
    {
        const string Name = "FEATURESTORE__JOBS__SERVE__HTTPPORT";
        Environment.SetEnvironmentVariable(Name, "eighty");
        try
        {
            var ex = Assert.Throws<HostConfigurationException>(() => HostConfiguration.Load(Write("repository: r.yaml")));
            Assert.Contains($"{Name}: 'eighty' is not a port number", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Name, null);
        }
    }

    [Fact]
    public async Task A_failing_job_is_logged_on_one_line_with_its_causes_and_the_trace_at_debug()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var logger = new ListLogger();
        var supervisor = new JobSupervisor([new ThrowingJob()], new SupervisionOptions(), new JobHealth(), logger, time);
        using var stop = new CancellationTokenSource();
        var run = supervisor.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => logger.Entries.Any(e => e.Level == LogLevel.Error), TimeSpan.FromSeconds(30), "failure logged", Ct);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var failure = logger.Entries.Single(e => e.Level == LogLevel.Error);
        Assert.Null(failure.Exception);
        Assert.Equal("job broken failed: InvalidOperationException: cannot start the listener ← SocketException: Address already in use; restarting in 1 s (restart 1)", failure.Message);
        var trace = logger.Entries.Single(e => e.Level == LogLevel.Debug && e.Exception is not null);
        Assert.IsType<InvalidOperationException>(trace.Exception);
    }

    [Fact]
    public void The_compaction_job_reads_its_settings_and_is_off_by_default()
    {
        Assert.False(HostConfiguration.Load(Write("repository: r.yaml")).Jobs.Compaction.Enabled);

        var settings = HostConfiguration.Load(Write("""
            jobs:
              compaction: { enabled: true, interval: 10m, targetRows: 250000, grace: 0s, sources: [payments] }
            """));

        var compaction = settings.Jobs.Compaction;
        Assert.True(compaction.Enabled);
        Assert.Equal(TimeSpan.FromMinutes(10), HostSettings.Time(compaction.Interval, "interval"));
        Assert.Equal(250_000, compaction.TargetRows);
        Assert.Equal(TimeSpan.Zero, HostSettings.Time(compaction.Grace, "grace"));
        Assert.Equal(["payments"], compaction.Sources);
    }

    [Fact]
    public async Task The_compaction_job_merges_the_log_at_each_interval()
    {
        var store = Path.Combine(_dir, "store");
        await EventLogFiles.WriteBatchesAsync(store, "payments", partition: 0, batches: 5, rowsPerBatch: 10, Ct);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var job = new Jobs.CompactionHostJob(store, new Parquet.Compaction.EventLogCompactionOptions { TargetRows = 1_000, Grace = TimeSpan.Zero },
            TimeSpan.FromMinutes(5), NullLogger.Instance, time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = job.RunAsync(stop.Token);

        var compacted = Path.Combine(store, "events", "payments", "_commits", "p0000-0000000000000000000-g000001.json");
        Assert.False(File.Exists(compacted));
        await Eventually.TrueAsync(() =>
        {
            time.Advance(TimeSpan.FromMinutes(5));
            return File.Exists(compacted);
        }, TimeSpan.FromSeconds(30), "compacted at an interval", Ct);
        Assert.Equal("compaction", job.Name);
        await Eventually.TrueAsync(() => Directory.GetFiles(Path.Combine(store, "events", "payments"), "*.parquet", SearchOption.AllDirectories).Length == 2,
            TimeSpan.FromSeconds(30), "the replaced files deleted (no grace)", Ct);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public void Yaml_flattens_to_configuration_keys()
    {
        var data = YamlConfigurationSource.Flatten("a: { b: 1, c: [x, y] }\nd: ~\n");
        Assert.Equal("1", data["a:b"]);
        Assert.Equal("y", data["a:c:1"]);
        Assert.Null(data["d"]);
    }

    [Fact]
    public void Backoff_doubles_up_to_the_maximum()
    {
        var options = new SupervisionOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(10) };
        Assert.Equal([1, 2, 4, 8, 10, 10], Enumerable.Range(1, 6).Select(n => JobSupervisor.Backoff(options, n).TotalSeconds));
    }

    [Fact]
    public async Task A_failing_job_is_restarted_after_its_backoff_and_reported_degraded_meanwhile()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var job = new FlakyJob(failures: 2);
        var health = new JobHealth();
        var steady = new FlakyJob(failures: 0, name: "steady");
        var supervisor = new JobSupervisor([job, steady], new SupervisionOptions
        {
            InitialBackoff = TimeSpan.FromSeconds(1),
            MaxBackoff = TimeSpan.FromSeconds(30),
            ResetAfter = TimeSpan.FromMinutes(1),
        }, health, NullLogger.Instance, time);
        using var stop = new CancellationTokenSource();
        var run = supervisor.RunAsync(stop.Token);

        // First failure: restarting, degraded, next start one second later.
        await Eventually.TrueAsync(() => health["flaky"]?.State == JobState.Restarting, TimeSpan.FromSeconds(30), "first failure seen", Ct);
        Assert.Equal(1, job.Starts);
        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(null!, Ct)).Status);
        Assert.Equal(JobState.Running, health["steady"]!.State);
        Assert.Equal(time.GetUtcNow().AddSeconds(1), health["flaky"]!.NextStartAt);

        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, job.Starts);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Eventually.TrueAsync(() => job.Starts == 2, TimeSpan.FromSeconds(30), "restarted after 1 s", Ct);

        // Second failure: the delay doubles.
        await Eventually.TrueAsync(() => health["flaky"] is { State: JobState.Restarting, Restarts: 2 }, TimeSpan.FromSeconds(30), "second failure seen", Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, job.Starts);
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(() => health["flaky"]?.State == JobState.Running && job.Starts == 3, TimeSpan.FromSeconds(30), "running after 2 s more", Ct);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(null!, Ct)).Status);

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.All(health.Jobs, j => Assert.Equal(JobState.Stopped, j.State));
        Assert.True(job.StoppedCleanly && steady.StoppedCleanly, "every job returns from its stop");
    }

    [Fact]
    public async Task A_job_with_nothing_to_do_completes_without_restarts()
    {
        var health = new JobHealth();
        var supervisor = new JobSupervisor([new IdleJob()], new SupervisionOptions(), health, NullLogger.Instance);
        await supervisor.RunAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(JobState.Completed, health["idle"]!.State);
        Assert.Equal(0, health["idle"]!.Restarts);
    }

    private string Write(string yaml)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "FeatureStore.sln")))
        {
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        }

        return dir;
    }

    /// <summary>Fails at once with an exception that has an inner cause, as a port in use does.</summary>
    private sealed class ThrowingJob : ISupervisedJob
    {
        public string Name => "broken";

        public Task RunAsync(CancellationToken cancellationToken) =>
            throw new InvalidOperationException("cannot start the listener", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse));
    }

    /// <summary>Keeps every entry logged, with its level, message and exception.</summary>
    private sealed class ListLogger : ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> _entries = new();

        public IReadOnlyList<(LogLevel Level, string Message, Exception? Exception)> Entries => [.. _entries];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _entries.Enqueue((logLevel, formatter(state, exception), exception));
    }

    /// <summary>Fails its first <c>failures</c> starts, then runs until stopped.</summary>
    private sealed class FlakyJob(int failures, string name = "flaky") : ISupervisedJob
    {
        private int _starts;

        public string Name => name;

        public int Starts => Volatile.Read(ref _starts);

        public bool StoppedCleanly { get; private set; }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _starts) <= failures)
            {
                throw new InvalidOperationException($"failure {_starts}");
            }

            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                StoppedCleanly = true;
            }
        }
    }

    private sealed class IdleJob : ISupervisedJob
    {
        public string Name => "idle";

        public Task RunAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
