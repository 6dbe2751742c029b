using System.Text.Json;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Quality;
using FeatureStore.Monitor.Alerts;
using FeatureStore.Monitor.Internal;
using FeatureStore.Monitor.Job;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Redis.Online;
using FeatureStore.Redis.Quality;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Monitor.Quality;

/// <summary>
/// The freshness and data-quality evaluator (DESIGN.md §7; docs/quality.md), beside the drift monitor: every
/// <see cref="MonitorOptions.QualityInterval"/> it takes each view's freshness (now − the newest event ingest applied
/// from its source, from the ingest status) against its objective, each view's served-value rates and each source's
/// dead-letter rates (from the counts serving replicas and ingest members add to the quality buckets) against their
/// thresholds; opens and resolves incidents; and alerts through the signed webhooks, with its own outbox
/// (<c>PREFIX:{PROJECT}:quality:outbox</c>), cooldown and <c>resolved</c>. Several processes may run it: an evaluation's
/// incidents, alerts and report are one transaction conditioned on the incidents it read.
/// </summary>
public sealed class QualityJob
{
    private readonly FeatureRepository _repository;
    private readonly IDatabase _database;
    private readonly MonitorOptions _options;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly QualityKeys _keys;
    private readonly QualityCounts _counts;
    private readonly IngestStatusReader _statuses;
    private readonly QualityIncidents _incidents;
    private readonly AlertDispatcher _dispatcher;
    private bool _loaded;

    /// <summary>An evaluator of every freshness objective and quality block of <paramref name="repository"/>.</summary>
    public QualityJob(FeatureRepository repository, IDatabase database, string keyPrefix, MonitorOptions options, MonitorMetrics metrics, ILogger logger)
    {
        _repository = repository ?? throw new ArgumentNullException(nameof(repository));
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _keys = new QualityKeys(keyPrefix, repository.Project);
        _counts = new QualityCounts(database, _keys);
        _statuses = new IngestStatusReader(database, new OnlineKeys(keyPrefix, repository.Project));
        _incidents = new QualityIncidents(repository, _keys, options);
        Outbox = new AlertOutbox(database, _keys.Outbox);
        _dispatcher = new AlertDispatcher(repository, Outbox, options, metrics, logger);
    }

    /// <summary>True when <paramref name="repository"/> declares a freshness objective or a quality block.</summary>
    public static bool Declared(FeatureRepository repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return repository.FeatureViews.Any(v => v.FreshnessMs is not null || v.Quality is not null) || repository.Sources.Any(s => s.Quality is not null);
    }

    /// <summary>The outbox of freshness and quality alerts not yet delivered.</summary>
    public AlertOutbox Outbox { get; }

    /// <summary>Evaluates every period until <paramref name="cancellationToken"/> is cancelled; undelivered alerts stay in the outbox.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        QualityLog.Started(_logger, _repository.FeatureViews.Count(v => v.FreshnessMs is not null),
            _repository.FeatureViews.Count(v => v.Quality is not null) + _repository.Sources.Count(s => s.Quality is not null), _options.QualityInterval);
        using var sender = new WebhookSender(firstRetryDelay: _options.WebhookRetryDelay);
        using var stopBackground = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var dispatch = Task.Run(() => _dispatcher.RunAsync(sender, stopBackground.Token), CancellationToken.None);
        using var timer = new PeriodicTimer(_options.QualityInterval, _options.TimeProvider);
        try
        {
            do
            {
                try
                {
                    await EvaluateAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (RedisException ex)
                {
                    MonitorLog.StoreError(_logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            await stopBackground.CancelAsync().ConfigureAwait(false);
            await dispatch.ConfigureAwait(false);
        }
    }

    /// <summary>One evaluation: the checks, their incidents and alerts, and the report (null when another evaluator's changes came first).</summary>
    public async Task<QualityReport?> EvaluateAsync(CancellationToken cancellationToken)
    {
        if (!_loaded)
        {
            await _incidents.LoadAsync(_database).ConfigureAwait(false);
            _loaded = true;
        }

        var nowMs = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var report = new QualityReport(nowMs, (long)_options.QualityInterval.TotalMilliseconds, await ChecksAsync(nowMs, cancellationToken).ConfigureAwait(false));
        var changes = new Dictionary<string, Incident>(StringComparer.Ordinal);
        var alerts = new List<DriftAlert>();
        _incidents.Observe(report.Checks, nowMs, changes, alerts);

        var transaction = _database.CreateTransaction();
        _incidents.Save(transaction, changes);
        foreach (var alert in alerts)
        {
            Outbox.Enqueue(transaction, alert, nowMs);
        }

        _ = transaction.StringSetAsync(_keys.Status, JsonSerializer.Serialize(report, DriftJson.Options), QualityKeys.BucketLifetime);
        if (!await transaction.ExecuteAsync().ConfigureAwait(false))
        {
            QualityLog.Conflict(_logger);
            await _incidents.LoadAsync(_database).ConfigureAwait(false);
            return null;
        }

        _incidents.Commit(changes);
        _metrics.Window();
        foreach (var (key, incident) in changes)
        {
            var check = report.Checks.First(c => c.Key == key);
            if (incident.Open)
            {
                QualityLog.Opened(_logger, key, check.Metric, incident.Value, incident.Threshold);
            }
            else
            {
                QualityLog.Resolved(_logger, key, check.Metric, incident.Value, incident.Threshold);
            }
        }

        foreach (var _ in alerts)
        {
            _metrics.Raised();
        }

        if (alerts.Count > 0)
        {
            _dispatcher.AlertsRaised();
        }

        return report;
    }

    private async Task<List<QualityCheck>> ChecksAsync(long nowMs, CancellationToken cancellationToken)
    {
        var checks = new List<QualityCheck>();
        var viewWindow = _repository.FeatureViews.Select(v => v.Quality?.WindowMs ?? 0).DefaultIfEmpty(0).Max();
        var sourceWindow = _repository.Sources.Select(s => s.Quality?.WindowMs ?? 0).DefaultIfEmpty(0).Max();
        var statuses = _repository.FeatureViews.Any(v => v.FreshnessMs is not null) ? await _statuses.ReadAsync(cancellationToken).ConfigureAwait(false) : [];
        var served = viewWindow > 0 ? await _counts.ReadServedAsync(nowMs, viewWindow).ConfigureAwait(false) : [];
        var sources = sourceWindow > 0 ? await _counts.ReadSourcesAsync(nowMs, sourceWindow).ConfigureAwait(false) : [];
        foreach (var view in _repository.FeatureViews)
        {
            if (view.FreshnessMs is not null && _repository.FindSource(view.Source) is { } source)
            {
                var (newest, lag) = Newest(statuses.Where(s => s.Topic == source.Topic));
                checks.Add(QualityRules.FreshnessOf(view, nowMs, newest, lag));
            }

            if (view.Quality is { } quality)
            {
                checks.AddRange(QualityRules.ServedRatesOf(view, QualityRules.Sum(served, nowMs, quality.WindowMs, QualityKeys.BucketMs)));
            }
        }

        foreach (var source in _repository.Sources.Where(s => s.Quality is not null))
        {
            checks.AddRange(QualityRules.DeadLetterRatesOf(source, QualityRules.Sum(sources, nowMs, source.Quality!.WindowMs, QualityKeys.BucketMs)));
        }

        return checks;
    }

    // The newest event applied from a topic over every ingest group, and the lag of the group that applied it.
    private static (long? NewestEventMs, long Lag) Newest(IEnumerable<IngestPartitionStatus> partitions)
    {
        var byGroup = partitions.GroupBy(p => p.Group).Select(g => (Newest: g.Max(p => p.NewestEventMs), Lag: g.Any(p => p.Lag < 0) ? -1 : g.Sum(p => p.Lag)))
            .Where(g => g.Newest is not null).OrderByDescending(g => g.Newest).ToList();
        return byGroup.Count == 0 ? (null, -1) : (byGroup[0].Newest, byGroup[0].Lag);
    }
}
