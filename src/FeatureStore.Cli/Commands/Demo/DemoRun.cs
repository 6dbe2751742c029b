using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Confluent.Kafka;
using FeatureStore.Client;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Drift;
using FeatureStore.Core.Events;
using FeatureStore.Core.Models;
using FeatureStore.Core.Performance;
using FeatureStore.Host;
using FeatureStore.Host.Supervision;
using FeatureStore.Monitor.Lifecycle;
using FeatureStore.Monitor.Performance;
using FeatureStore.Monitor.Persistence;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FeatureStore.Redis.Embedded;
using FeatureStore.Redis.Models;
using FeatureStore.Redis.Registry;
using Microsoft.Extensions.Logging.Abstractions;
using Spectre.Console;

namespace FeatureStore.Cli.Commands.Demo;

/// <summary>What the demo is asked to do.</summary>
internal sealed record DemoSettings(int Events, int PredictionsPerWindow, bool KeepRunning, string Directory, int HttpPort, int GrpcPort);

/// <summary>A step of the demo did not reach its goal; the message says which.</summary>
internal sealed class DemoFailure(string message) : Exception(message);

/// <summary>
/// One run of the demo: the pipeline (embedded Kafka and Garnet, ingest, the offline log writer, serving, the
/// monitor) is the host's (<see cref="FeatureStoreHost"/>, as <c>featurestore run</c> wires it), configured
/// for the demo; the demo adds the webhook receiver, the data and the steps, and stops it all on dispose.
/// </summary>
internal sealed class DemoRun(IAnsiConsole console, DemoSettings settings) : IAsyncDisposable
{
    private const string Project = "fraud";
    private const string Model = "fraud_detector";
    private const string Version = "v1";
    private const string PaymentsTopic = "transactions";
    private const string PredictionsTopic = PredictionStream.PredictionsTopic;
    private const long Hour = PredictionStream.HourMs;
    private const int NormalHours = 6;
    private const int DriftHours = 3;
    private const int RecoveryHours = 3;
    private const int ConceptHours = 3;
    private const int SettledHours = 3;
    private const int Hours = NormalHours + DriftHours + RecoveryHours + ConceptHours + SettledHours;
    private const string Candidate = "v2";
    private const int TrialHours = 6; // the candidate's two performance windows in production: degradation_windows
    private const int StreamedHours = Hours + TrialHours;
    private const string StoreMemory = "2g";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _jobs = new();
    private readonly List<(string What, string Value)> _summary = [];
    private readonly string _secret = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
    private FeatureStoreHost? _host;
    private Task? _running;
    private AlertReceiver? _receiver;
    private EmbeddedGarnet? _store;
    private (Uri Grpc, Uri Http)? _served;
    private FeatureRepository _repository = null!;
    private CompiledRepository _compiled = null!;
    private TrainingSet? _training;
    private ReferencePerformance? _reference;
    private int _malformed;
    private IProducer<string, byte[]>? _producer;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        console.Write(new Rule("[bold]FeatureStore demo[/]").LeftJustified());
        var code = CliApp.Ok;
        try
        {
            await StartServicesAsync(cancellationToken);
            var payments = await StreamPaymentsAsync(cancellationToken);
            await IngestAsync(payments, cancellationToken);
            var training = await ExportAsync(payments, cancellationToken);
            var (trained, trainRows, heldOut) = Train(training);
            await RegisterAsync(trained, trainRows, heldOut, cancellationToken);
            await LookUpAsync(payments, cancellationToken);
            var stream = await MonitorAsync(trained, trainRows, cancellationToken);
            await LifecycleAsync(stream, heldOut, cancellationToken);
            await FreshnessAsync(payments, cancellationToken);
            SummariseWhereToLook();
        }
        catch (DemoFailure ex)
        {
            console.MarkupLine($"[red]✗[/] {Markup.Escape(ex.Message)}");
            code = CliApp.Failure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.MarkupLine("[yellow]stopped before the end[/]");
            return CliApp.Failure;
        }
        catch (Exception ex) when (ex is Grpc.Core.RpcException or StackExchange.Redis.RedisException or KafkaException or IOException or Monitor.Baselines.BaselineException or ReferenceException)
        {
            console.MarkupLine($"[red]✗[/] {Markup.Escape(ex.GetType().Name)}: {Markup.Escape(ex.Message)}");
            code = CliApp.Failure;
        }

        _summary.Add(("total time", $"{_clock.Elapsed.TotalSeconds:0.0} s"));
        console.Write(new Rule(code == CliApp.Ok ? "[bold]summary[/]" : "[bold red]summary (failed)[/]").LeftJustified());
        var table = new Table().HideHeaders().AddColumn("").AddColumn("");
        foreach (var (what, value) in _summary)
        {
            table.AddRow(Markup.Escape(what), Markup.Escape(value));
        }

        console.Write(table);
        if (settings.KeepRunning && _served is not null)
        {
            console.MarkupLine("the server and the dashboard stay up; Ctrl-C stops them");
            console.WriteLine($"dashboard: {Dashboard}");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM
            }
        }

        return code;
    }

    private void Done(string text) => console.MarkupLine($"[green]✓[/] {text} [grey]({_clock.Elapsed.TotalSeconds:0.0} s)[/]");

    private async Task StartServicesAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(settings.Directory);
        if (Directory.Exists(OfflineDirectory))
        {
            // A log left by an earlier run would make the archiver skip this run's offsets as already written.
            Directory.Delete(OfflineDirectory, recursive: true);
        }

        _receiver = await AlertReceiver.StartAsync(_secret, cancellationToken);

        // The demo's own Garnet, larger than the host's default: the label join appends each score and pair to its
        // window's strings, and Garnet writes every append of a grown value anew at its log's tail, so 3-hour windows
        // of 3 000 predictions fill some 600 MB of log; a memory-only log that wraps drops its oldest records, the
        // version's reference performance among them.
        _store = EmbeddedGarnet.Start(memory: StoreMemory);

        // The example repository, with the webhook pointed at the receiver and the score window sized to a simulated hour.
        string yaml;
        await using (var resource = typeof(DemoRun).Assembly.GetManifestResourceStream("examples.fraud.featurestore.yaml")!)
        using (var reader = new StreamReader(resource))
        {
            yaml = await reader.ReadToEndAsync(cancellationToken);
        }

        yaml = Replace(yaml, "url: http://127.0.0.1:9099/alerts", $"url: {_receiver.Url}");
        yaml = Replace(yaml, "window: { count: 10000 }", $"window: {{ count: {settings.PredictionsPerWindow.ToString(CultureInfo.InvariantCulture)} }}");
        var load = FeatureRepositoryLoader.LoadFromText(yaml, "examples/fraud/featurestore.yaml");
        _repository = load.Repository ?? throw new DemoFailure("the example repository does not load: " + string.Join("; ", load.Diagnostics));
        _compiled = CompiledRepository.Compile(_repository);

        // The host reads its repository from a file: this run's version of the example goes beside the run's other files.
        var repositoryFile = Path.Combine(settings.Directory, "featurestore.yaml");
        await File.WriteAllTextAsync(repositoryFile, yaml, cancellationToken);
        var httpPort = settings.HttpPort == 0 ? FreePort() : settings.HttpPort;
        try
        {
            _host = await FeatureStoreHost.CreateAsync(HostSettingsFor(repositoryFile, httpPort), NullLoggerFactory.Instance, extensions: new HostExtensions
            {
                WebhookSecrets = _ => _secret,
                AlertPollInterval = TimeSpan.FromMilliseconds(200),
                EmbeddedTopicPartitions = new Dictionary<string, int>(StringComparer.Ordinal) { [PredictionsTopic] = 1 }, // predictions reach the monitor in time order
            });
        }
        catch (HostConfigurationException ex)
        {
            throw new DemoFailure("the demo's host configuration is refused: " + ex.Message);
        }

        Done($"embedded Kafka at [blue]{_host.BootstrapServers}[/], embedded Garnet at [blue]{_host.RedisEndpoint}[/], webhook receiver at [blue]{_receiver.Url}[/]");
        var applied = await new RegistryStore(_host.Store.Database).ApplyAsync(_repository, yaml, cancellationToken);
        Done($"registered project [bold]{_repository.Project}[/] version {applied.Version}: {_repository.FeatureViews.Count} feature views, " +
            $"{_repository.FeatureViews.Sum(v => v.Features.Count)} features, model {Model}");
    }

    // Every job `run` would start, on embedded services, under the demo's consumer groups and folder.
    private HostSettings HostSettingsFor(string repositoryFile, int httpPort) => new()
    {
        Repository = repositoryFile,
        Redis = { Configuration = _store!.Endpoint },
        Offline = { Directory = OfflineDirectory },
        Jobs =
        {
            Ingest = { Group = "demo-ingest" },
            Offline = { Group = "demo-ingest.offline" },
            Serve =
            {
                GrpcPort = settings.GrpcPort == 0 ? FreePort() : settings.GrpcPort,
                HttpPort = httpPort,
                StoreTimeout = "5s", // the demo shares two cores with its own jobs
            },
            Monitor = { Group = "demo-monitor", QualityInterval = "2s", HistoryUrl = $"http://127.0.0.1:{httpPort.ToString(CultureInfo.InvariantCulture)}/dashboard" },
        },

        // The model is registered after the monitor starts: it sees the registration within a second even if the change notification is missed.
        Models = { StagePollInterval = "1s" },
    };

    private Uri Dashboard => new(_served!.Value.Http, "dashboard");

    private long Archived => _host!.OfflineEvents.Written + _host.OfflineEvents.Skipped;

    // A job that failed (the host would restart it) or a host that stopped: the step cannot reach its goal.
    private string? Stalled() =>
        _running is { IsCompleted: true } ? "the host stopped"
        : _host!.Health.Jobs.FirstOrDefault(j => j.State is JobState.Restarting or JobState.Completed) is { } job ? $"job {job.Name} {job.State.ToString().ToLowerInvariant()}: {job.LastError}"
        : null;

    private async Task<List<Payment>> StreamPaymentsAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var payments = PaymentsGenerator.Generate(settings.Events, now - (6 * Hour), now - 60_000);
        var malformed = 0;
        await console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("producing payments", maxValue: payments.Count);
            using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = _host!.BootstrapServers, EnableIdempotence = true, LingerMs = 5 }).Build();
            for (var i = 0; i < payments.Count; i++)
            {
                var payment = payments[i];
                producer.Produce(PaymentsTopic, new Message<string, byte[]> { Key = payment.User, Value = payment.Json() });
                if (i % 500 == 250)
                {
                    producer.Produce(PaymentsTopic, new Message<string, byte[]> { Key = payment.User, Value = PaymentsGenerator.Malformed(payment.User) });
                    malformed++;
                }

                if (i % 1000 == 0)
                {
                    task.Value = i;
                    await Task.Yield();
                }
            }

            producer.Flush(cancellationToken);
            task.Value = payments.Count;
        });
        _malformed = malformed;
        Done($"produced {payments.Count:N0} payments over the last 6 hours ({payments.Count(p => p.Fraud):N0} fraudulent, {malformed} deliberately malformed)");
        return payments;
    }

    private async Task IngestAsync(List<Payment> payments, CancellationToken cancellationToken)
    {
        // The host's jobs start now, with every payment already in its topic: the time below is ingest's alone.
        var clock = Stopwatch.StartNew();
        _running = Task.Run(() => _host!.RunAsync(_jobs.Token), CancellationToken.None);
        var metrics = _host!.IngestMetrics!;
        var total = payments.Count + _malformed;
        await console.Progress().StartAsync(async progress =>
        {
            var online = progress.AddTask("ingesting into windowed features (online)", maxValue: total);
            var offline = progress.AddTask("archiving to the Parquet event log (offline)", maxValue: total);
            while (metrics.EventsTotal + metrics.DeadLetteredTotal < total || Archived < total)
            {
                if (clock.Elapsed > StepTimeout || Stalled() is not null)
                {
                    throw new DemoFailure($"ingest did not finish: {metrics.EventsTotal + metrics.DeadLetteredTotal:N0} of {total:N0} events online, {Archived:N0} archived ({Stalled() ?? "timed out"})");
                }

                online.Value = metrics.EventsTotal + metrics.DeadLetteredTotal;
                offline.Value = Archived;
                await Task.Delay(100, cancellationToken);
            }

            online.Value = total;
            offline.Value = total;
        });
        if (metrics.EventsTotal != payments.Count || metrics.DeadLetteredTotal != _malformed)
        {
            throw new DemoFailure($"ingested {metrics.EventsTotal:N0} events and dead-lettered {metrics.DeadLetteredTotal} (expected {payments.Count:N0} and {_malformed})");
        }

        Done($"ingested {metrics.EventsTotal:N0} events in {clock.Elapsed.TotalSeconds:0.0} s ({metrics.DeadLetteredTotal} dead-lettered to {PaymentsTopic}.dlq with their reasons); " +
            $"archived {_host.OfflineEvents.Written:N0} to the offline store");
        _summary.Add(("events ingested", $"{metrics.EventsTotal:N0} ({metrics.DeadLetteredTotal} dead-lettered) in {clock.Elapsed.TotalSeconds:0.0} s, {metrics.EventsTotal / Math.Max(0.001, clock.Elapsed.TotalSeconds):N0} events/s"));

        // The serve job started with the others; its addresses are known once it listens.
        await WaitAsync(() => Task.FromResult(_host.ServeAddresses is not null), "the feature server", cancellationToken);
        _served = _host.ServeAddresses;
        Done($"serving gRPC at [blue]{_served!.Value.Grpc}[/]; dashboard at [blue]{Dashboard}[/] (open it to watch the rest)");
    }

    private string OfflineDirectory => Path.Combine(settings.Directory, "offline");

    private async Task<TrainingSet> ExportAsync(List<Payment> payments, CancellationToken cancellationToken)
    {
        // The entity table: every payment, with its label, as of just before it happened (its own amount is not a feature of itself).
        var entities = Path.Combine(settings.Directory, "payments-labelled.csv");
        var text = new StringBuilder("transaction_id,user_id,merchant_id,event_timestamp,is_fraud\n");
        foreach (var p in payments)
        {
            text.Append(CultureInfo.InvariantCulture, $"{p.Id},{p.User},{p.Merchant},{p.TimeMs - 1},{(p.Fraud ? 1 : 0)}\n");
        }

        await File.WriteAllTextAsync(entities, text.ToString(), cancellationToken);
        var version = _repository.FindModel(Model)!.Versions.Single(v => v.Version == Version);
        var output = Path.Combine(settings.Directory, "training.csv");
        ExportResult result;
        try
        {
            result = await PointInTimeExport.RunAsync(_compiled, OfflineDirectory, entities, FeatureSelection.Parse(_compiled, version.Features), output, ExportFormat.Csv, null, cancellationToken);
        }
        catch (Exception ex) when (ex is TableFileException or IOException or ArgumentException)
        {
            throw new DemoFailure("the training export failed: " + ex.Message);
        }

        var columns = version.Features.Select(f => f.Replace(":", "__", StringComparison.Ordinal)).ToArray();
        var lines = await File.ReadAllLinesAsync(output, cancellationToken);
        var header = lines[0].Split(',');
        var index = columns.Select(c => Array.IndexOf(header, c)).ToArray();
        if (index.Any(i => i < 0) || lines.Length - 1 != payments.Count)
        {
            throw new DemoFailure($"the training export has {lines.Length - 1} rows and columns {lines[0]}");
        }

        var rows = new double?[payments.Count][];
        for (var r = 0; r < rows.Length; r++)
        {
            var cells = lines[r + 1].Split(',');
            rows[r] = [.. index.Select(i => double.TryParse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : (double?)null)];
        }

        Done($"exported a point-in-time training set: {result.Rows:N0} rows × {result.FeatureColumns} features from {result.EventsRead:N0} logged events in {result.Elapsed.TotalSeconds:0.0} s");
        return new TrainingSet(payments, columns, rows);
    }

    private (FraudModel Model, List<int> TrainRows, List<int> HeldOut) Train(TrainingSet set)
    {
        // Split by time, as a model meets the future: the first three quarters train, the last quarter is held out.
        var cut = set.Payments[0].TimeMs + ((set.Payments[^1].TimeMs - set.Payments[0].TimeMs) * 3 / 4);
        var train = Enumerable.Range(0, set.Rows.Length).Where(i => set.Payments[i].TimeMs < cut).ToList();
        var test = Enumerable.Range(0, set.Rows.Length).Where(i => set.Payments[i].TimeMs >= cut).ToList();
        var model = FraudModel.Train(set.Features, [.. train.Select(i => set.Rows[i])], [.. train.Select(i => set.Payments[i].Fraud)]);
        var auc = FraudModel.Auc([.. test.Select(i => model.Score(set.Rows[i]))], [.. test.Select(i => set.Payments[i].Fraud)]);
        if (double.IsNaN(auc) || auc < 0.6)
        {
            throw new DemoFailure($"the model does not separate fraud: AUC {auc:0.000} on {test.Count} held-out rows");
        }

        Done($"trained a logistic regression on {train.Count:N0} rows ({train.Count(i => set.Payments[i].Fraud)} fraud); " +
            $"AUC on the {test.Count:N0} held-out rows (the last quarter of the time span): [bold]{auc:0.000}[/]");
        _summary.Add(("training rows", $"{set.Rows.Length:N0} exported: {train.Count:N0} to train, {test.Count:N0} held out"));
        _summary.Add(("AUC (held out)", auc.ToString("0.000", CultureInfo.InvariantCulture)));
        _training = set;
        return (model, train, test);
    }

    private async Task RegisterAsync(FraudModel trained, List<int> trainRows, List<int> heldOut, CancellationToken cancellationToken)
    {
        // The baseline is computed from the training rows with the model's scores beside their features; the reference
        // performance from the held-out rows' scores and labels, in time order (the estimate's band is learned over consecutive chunks).
        var file = Path.Combine(settings.Directory, "training-scored.csv");
        await WriteScoredAsync(file, trained, _training!, trainRows, withFeatures: true, cancellationToken);
        var validation = Path.Combine(settings.Directory, "validation-scored.csv");
        await WriteScoredAsync(validation, trained, _training!, heldOut, withFeatures: false, cancellationToken);
        var model = _repository.FindModel(Model)!;
        var (baseline, reference) = await ModelRegistration.RegisterAsync(_host!.Store, _host.Settings.Redis.KeyPrefix, _repository, model, Version, trained, file, validation, settings.Directory, cancellationToken);
        _reference = reference;
        Done($"registered {Model} {Version} in the model registry (stage production) with its drift baseline [bold]{Markup.Escape(baseline.Id)}[/] ({baseline.Columns.Count} monitored columns) " +
            $"and its reference performance from the {reference.Count:N0} held-out rows: roc_auc {reference.Metrics["roc_auc"]:0.000}");
    }

    private async Task LookUpAsync(List<Payment> payments, CancellationToken cancellationToken)
    {
        using var client = new FeatureStoreClient(_served!.Value.Grpc);
        var random = new Random(11);
        const int Warmup = 30;
        const int Timed = 300;
        var latencies = new List<double>(Timed);
        OnlineFeatureSet? last = null;
        var unavailable = 0;
        for (var i = 0; i < Warmup + Timed; i++)
        {
            var p = payments[random.Next(payments.Count)];
            var clock = Stopwatch.StartNew();
            try
            {
                last = await client.GetModelFeaturesAsync(Model, [new Dictionary<string, string> { ["user_id"] = p.User, ["merchant_id"] = p.Merchant }], cancellationToken: cancellationToken);
            }
            catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.Unavailable && ++unavailable <= 3)
            {
                continue; // a store slow under the demo's own load: counted, and the next lookup goes on
            }

            if (i >= Warmup)
            {
                latencies.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        latencies.Sort();
        var p50 = latencies[(latencies.Count / 2) - 1];
        var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
        var present = last!.Response.Rows[0].Values.Count(v => v.Status == Contracts.V1.FeatureStatus.Present);
        var slow = unavailable == 0 ? "" : $"; {unavailable} answered UNAVAILABLE (store slower than 5 s)";
        Done($"{latencies.Count} timed gRPC lookups through FeatureStore.Client ({last.FeatureNames.Count} features of {Model}, {present} present in the last): p50 {p50:0.00} ms, p99 {p99:0.00} ms{slow}");
        _summary.Add(("lookup latency (gRPC, 1 entity × 8 features)", $"p50 {p50:0.00} ms, p99 {p99:0.00} ms over {latencies.Count} lookups{slow}"));

        // A request-time feature: the payment being scored (its amount, sent with the lookup) against the card holder's
        // stored 24-hour mean, beside the merchant's 95th percentile of amounts (a quantile sketch per tile).
        var payment = payments.MaxBy(p => p.TimeMs)!;
        string[] features = ["payment:amount_vs_mean_24h", "user_txn_stats:amount_mean_24h", "merchant_txn_stats:amount_p95_24h"];
        var scored = await client.GetOnlineFeaturesAsync(features, [new Dictionary<string, string> { ["user_id"] = payment.User, ["merchant_id"] = payment.Merchant }],
            [new Dictionary<string, object?> { ["amount"] = payment.Amount }], cancellationToken: cancellationToken);
        var ratio = scored.GetDouble(0, features[0]);
        var mean = scored.GetDouble(0, features[1]);
        var p95 = scored.GetDouble(0, features[2]);
        if (ratio is null || mean is null || p95 is null || Math.Abs(ratio.Value - (payment.Amount / mean.Value)) > 1e-9 * Math.Max(1, Math.Abs(ratio.Value)))
        {
            throw new DemoFailure($"the request-time lookup answered amount_vs_mean_24h {ratio?.ToString(CultureInfo.InvariantCulture) ?? "null"}, amount_mean_24h {mean?.ToString(CultureInfo.InvariantCulture) ?? "null"}, amount_p95_24h {p95?.ToString(CultureInfo.InvariantCulture) ?? "null"} for a payment of {payment.Amount}");
        }

        Done($"request-time lookup with the payment's amount as context: {payment.Amount:0.00} is {ratio:0.00}× card holder {Markup.Escape(payment.User)}'s 24 h mean ({mean:0.00}); merchant {Markup.Escape(payment.Merchant)}'s 95th percentile over 24 h: {p95:0.00}");
        _summary.Add(("request-time feature", $"payment:amount_vs_mean_24h = {ratio:0.00} ({payment.Amount:0.00} / {mean:0.00}); merchant amount_p95_24h {p95:0.00}"));
    }

    private async Task<PredictionStream> MonitorAsync(FraudModel trained, List<int> pool, CancellationToken cancellationToken)
    {
        // The monitor has run since the host started; the demo reads what it keeps as the dashboard does.
        var metrics = _host!.MonitorMetrics!;
        var drift = new DriftStore(_host.Store.Database, _host.Settings.Redis.KeyPrefix, Project);
        var performance = new PerformanceStore(_host.Store.Database, drift.Keys);
        var outbox = new AlertOutbox(drift.Database, drift.Keys);
        // The phases start and end on the performance windows' boundaries (windows are aligned to the epoch), so each window is of one phase.
        var performanceWindow = _repository.FindModel(Model)!.PerformanceMonitors[0].WindowMs;
        var start = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / performanceWindow * performanceWindow) - (StreamedHours * Hour);
        var columns = _repository.FindModel(Model)!.Monitors.Select(m => m.Column).Distinct().Count();
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = _host.BootstrapServers, EnableIdempotence = true, LingerMs = 5 }).Build();
        var stream = new PredictionStream(_producer, _training!, trained, pool, Version, start, settings.PredictionsPerWindow);

        // Phase 1: six hours as in training, then three in which amounts arrive three times larger.
        console.MarkupLine($"[grey]…[/] streaming predictions to [blue]{PredictionsTopic}[/] and, {PredictionStream.LabelDelayMs / 60_000} minutes of event time later, their labels to [blue]{PredictionStream.LabelsTopic}[/]: " +
            $"{NormalHours} simulated hours as in training, then {DriftHours} with amounts ×{PredictionStream.AmountFactor} (injected drift); {settings.PredictionsPerWindow:N0} per hour");
        stream.Produce(0, NormalHours, StreamPhase.Calm, cancellationToken);
        stream.Produce(NormalHours, NormalHours + DriftHours, StreamPhase.LargerAmounts, cancellationToken);
        var phase1Windows = ((NormalHours + DriftHours) * columns) - 2; // the last hour of a time window closes with the next prediction
        await WaitAsync(async () => _receiver!.Alerts.Any(a => a.Event == "drift") && await drift.HistoryCountAsync(Model, Version) >= phase1Windows
            && await outbox.PendingAsync() == 0, "the drift alert at the webhook", cancellationToken);
        var drifts = _receiver!.Alerts.Where(a => a.Event == "drift").ToList();
        foreach (var a in drifts)
        {
            Done($"[red]drift[/] alert received by the webhook, signature verified: {a.Model} {a.Version} [bold]{Markup.Escape(a.Column)}[/] {a.Method} = {a.Value:G4} (threshold {a.Threshold:G4})");
        }

        // Phase 2: the shift ends; one more prediction an hour later closes the last time window.
        console.MarkupLine($"[grey]…[/] the shift ends: {RecoveryHours} simulated hours as in training");
        var recovered = NormalHours + DriftHours + RecoveryHours;
        stream.Produce(NormalHours + DriftHours, recovered, StreamPhase.Calm, cancellationToken);
        stream.Close(recovered, cancellationToken);
        var incidents = drifts.Select(a => a.Id[..a.Id.LastIndexOf(':')]).ToHashSet(StringComparer.Ordinal);
        await WaitAsync(async () => incidents.All(i => _receiver.Alerts.Any(a => a.Id == i + ":resolved"))
            && await drift.HistoryCountAsync(Model, Version) >= recovered * columns
            && await outbox.PendingAsync() == 0, "the resolved alerts at the webhook", cancellationToken);
        foreach (var a in _receiver.Alerts.Where(a => a.Event == "resolved" && incidents.Contains(a.Id[..a.Id.LastIndexOf(':')])))
        {
            Done($"[green]resolved[/] alert received: {a.Model} {a.Version} [bold]{Markup.Escape(a.Column)}[/] {a.Method} = {a.Value:G4} (threshold {a.Threshold:G4})");
        }

        // Phase 3: concept drift. The payments, so the scores, are drawn as in training: the score's distribution does
        // not move. What a score means does: in one category, legitimate-looking payments turn out fraudulent.
        console.MarkupLine($"[grey]…[/] concept drift: for {ConceptHours} simulated hours, in [bold]{PredictionStream.ShiftedCategory}[/] {PredictionStream.ShiftedShare:P0} of the legitimate payments " +
            $"that look safest (scored below the median) turn out fraudulent: same payments, same scores, other labels; then {SettledHours} hours as in training");
        stream.Produce(recovered, recovered + ConceptHours, StreamPhase.NewFraudInCategory, cancellationToken);
        stream.Produce(recovered + ConceptHours, Hours, StreamPhase.Calm, cancellationToken);
        stream.Close(Hours, cancellationToken);
        var series = PaymentsGenerator.Categories.Length + 1; // each window's whole model, then each category
        var windows = (int)(Hours * Hour / performanceWindow);
        bool Caught(ReceivedAlert a) => a.Event == "performance" && a.Segment == PredictionStream.ShiftedCategory && a.Method == "realized";
        await WaitAsync(async () => _receiver.Alerts.Any(Caught)
            && (await performance.HistoryAsync(Model, Version)).Count >= windows * series
            && await drift.HistoryCountAsync(Model, Version) >= Hours * columns
            && await outbox.PendingAsync() == 0, "the performance alert at the webhook", cancellationToken);
        var caught = _receiver.Alerts.First(Caught);
        Done($"[red]performance[/] alert received, signature verified: {caught.Model} {caught.Version} [bold]{Markup.Escape(caught.Column)}[/] {caught.Method} = {caught.Value:0.000} " +
            $"in segment [bold]{Markup.Escape(caught.Segment!)}[/] (threshold {caught.Threshold:0.000})");
        foreach (var a in _receiver.Alerts.Where(a => a.Event == "performance" && !ReferenceEquals(a, caught)))
        {
            Done($"[red]performance[/] alert received: {a.Model} {a.Version} [bold]{Markup.Escape(a.Column)}[/] {a.Method} = {a.Value:0.000} in {Markup.Escape(a.Segment ?? "the whole model")} (threshold {a.Threshold:0.000})");
        }

        // The last hours are as in training again: the category's incident resolves.
        var resolvedId = caught.Id[..caught.Id.LastIndexOf(':')] + ":resolved";
        await WaitAsync(() => Task.FromResult(_receiver.Alerts.Any(a => a.Id == resolvedId)), "the performance incident's resolved alert", cancellationToken);
        var resolved = _receiver.Alerts.First(a => a.Id == resolvedId);
        Done($"[green]resolved[/] alert received: {resolved.Model} {resolved.Version} [bold]{Markup.Escape(resolved.Column)}[/] {resolved.Method} = {resolved.Value:0.000} in segment {Markup.Escape(resolved.Segment!)} " +
            $"once the labels were as in training again");

        // The score's drift monitor saw nothing: the concept drift is invisible to PSI and KS. Read from its history, not
        // from the webhook, whose cooldown would hold back a second alert of the same column so soon after the first.
        var (conceptStart, conceptEnd) = (start + (recovered * Hour), start + ((recovered + ConceptHours) * Hour));
        var scores = (await drift.HistoryAsync(Model, Version)).Where(e => e.Column == "score" && e.WindowStartMs >= conceptStart && e.WindowStartMs < conceptEnd).ToList();
        if (scores.Count == 0)
        {
            throw new DemoFailure("no score window of the concept drift was evaluated");
        }

        if (scores.FirstOrDefault(e => e.Drifted) is { } drifted)
        {
            throw new DemoFailure($"the score's drift monitor saw the concept drift: {string.Join(", ", drifted.Results.Select(r => $"{r.Method} {r.Value:G4} (threshold {r.Threshold:G4})"))}");
        }

        var psi = scores.SelectMany(e => e.Results).Where(r => r.Method == DriftMethod.Psi).Max(r => r.Value);

        var history = await performance.HistoryAsync(Model, Version);
        var window = history.First(h => h.Segment == PredictionStream.ShiftedCategory && h.Breaches.Any(b => b.Metric == "roc_auc" && b.Kind == "realized"));
        var estimate = window.Estimated?.GetValueOrDefault("roc_auc") is { } e ? e.Value.ToString("0.000", CultureInfo.InvariantCulture) : "none";
        var labels = await performance.LabelCountsAsync(Model);
        Done($"concept drift caught by realized performance: roc_auc {window.Realized["roc_auc"]:0.000} in {PredictionStream.ShiftedCategory} for {Rfc3339.Format(window.WindowStartMs)} " +
            $"(reference {_reference!.Metrics["roc_auc"]:0.000}, estimate from the scores {estimate}); the score's {scores.Count} drift windows meanwhile: PSI at most {psi:0.000}, no drift");

        // The history holds one entry per window and column: the summary counts windows, as the dashboard does.
        var evaluations = await drift.HistoryCountAsync(Model, Version);
        _summary.Add(("predictions monitored", $"{metrics.Predictions:N0} in {evaluations / columns} windows × {columns} columns ({metrics.DeadLettered} dead-lettered, {metrics.Skipped} skipped)"));
        _summary.Add(("drift alert received", $"yes: {drifts.Count} (signature verified), {string.Join(", ", drifts.Select(a => $"{a.Column} {a.Method}"))}"));
        _summary.Add(("alert resolved", $"yes: {_receiver.Alerts.Count(a => a.Event == "resolved" && incidents.Contains(a.Id[..a.Id.LastIndexOf(':')]))} resolved alerts after the shift ended"));
        _summary.Add(("labels joined", $"{labels.Joined:N0} in {history.Count(h => h.Segment is null)} windows × {series - 1} categories and the whole model ({labels.Late} late, {labels.Unmatched} unmatched)"));
        _summary.Add(("concept drift caught", $"realized roc_auc {window.Realized["roc_auc"]:0.000} in {PredictionStream.ShiftedCategory} " +
            $"(reference {_reference.Metrics["roc_auc"]:0.000}, estimate {estimate}), score PSI {psi:0.000} and KS quiet"));
        return stream;
    }

    private async Task LifecycleAsync(PredictionStream stream, List<int> heldOut, CancellationToken cancellationToken)
    {
        // A lighter challenger: trained on the same rows with fewer columns, registered beside v1 with its own baseline and reference.
        var declared = _repository.FindModel(Model)!;
        var columns = declared.Versions.Single(v => v.Version == Candidate).Features.Select(f => f.Replace(":", "__", StringComparison.Ordinal)).ToArray();
        var projected = _training!.Project(columns);
        var cut = projected.Payments[0].TimeMs + ((projected.Payments[^1].TimeMs - projected.Payments[0].TimeMs) * 3 / 4);
        var train = Enumerable.Range(0, projected.Rows.Length).Where(i => projected.Payments[i].TimeMs < cut).ToList();
        var challenger = FraudModel.Train(columns, [.. train.Select(i => projected.Rows[i])], [.. train.Select(i => projected.Payments[i].Fraud)]);
        var scored = Path.Combine(settings.Directory, $"training-scored-{Candidate}.csv");
        await WriteScoredAsync(scored, challenger, projected, train, withFeatures: true, cancellationToken);
        var validation = Path.Combine(settings.Directory, $"validation-scored-{Candidate}.csv");
        await WriteScoredAsync(validation, challenger, projected, heldOut, withFeatures: false, cancellationToken);
        var (_, reference) = await ModelRegistration.RegisterAsync(_host!.Store, _host.Settings.Redis.KeyPrefix, _repository, declared, Candidate, challenger, scored, validation, settings.Directory, cancellationToken, promote: false);
        Done($"registered the challenger {Model} {Candidate} ({columns.Length} features, stage staging): roc_auc {reference.Metrics["roc_auc"]:0.000} on the held-out rows");

        // `model promote` measures the repository's gates first.
        var prefix = _host.Settings.Redis.KeyPrefix;
        var drift = new DriftStore(_host.Store.Database, prefix, Project);
        var registry = new ModelRegistryStore(_host.Store.Database, prefix, Project);
        var evaluator = new GateEvaluator(new PerformanceStore(_host.Store.Database, drift.Keys), drift, prefix, Project);
        var record = await registry.GetAsync(Model, Candidate) ?? throw new DemoFailure($"{Model} {Candidate} is not in the registry after registering it");
        var gates = await evaluator.EvaluateAsync(declared, record, Version, new GateInputs(validation), cancellationToken);
        foreach (var gate in gates)
        {
            console.MarkupLine($"    {(gate.Passed ? "[green]" : "[red]")}{Markup.Escape(ModelCommands.GateLine(gate))}[/]");
        }

        var failed = gates.Where(g => !g.Passed).ToList();
        var auc = gates.FirstOrDefault(g => g.Gate.StartsWith("roc_auc", StringComparison.Ordinal));
        if (auc is not { Passed: false, Value: not null, Bound: not null })
        {
            throw new DemoFailure($"the roc_auc gate did not refuse the weaker challenger: {(auc is null ? "no such gate" : ModelCommands.GateLine(auc))}");
        }

        Done($"[bold]model promote {Model} {Candidate}[/] refused (exit 2): {failed.Count} of {gates.Count} gates failed; {Candidate} stays staging");
        _summary.Add(("gate refused the challenger", $"{Candidate} roc_auc {Gates.Format(auc.Value)} < bound {Gates.Format(auc.Bound)} (production {Version} - 0.01); " +
            $"{failed.Count} of {gates.Count} gates failed, {Version} stays production"));

        // Forced past its gates for a trial, with the reason in the history; then the fraud pattern it cannot see arrives.
        const string Reason = "a trial of the lighter model on live traffic";
        var promoted = await registry.PromoteAsync(Model, Candidate, ModelStage.Production, new StageNote(StageChange.Cli, gates, Forced: true, Reason));
        if (!promoted.Found)
        {
            throw new DemoFailure($"{Model} {Candidate} could not be promoted");
        }

        Done($"promoted {Candidate} with --force --reason \"{Reason}\"; {Version} archived");
        console.MarkupLine($"[grey]…[/] {Candidate} in production for {TrialHours} simulated hours while, in every category, {PredictionStream.ShiftedShare:P0} of the safest-looking legitimate payments turn out fraudulent; " +
            $"the policy: on_degradation: rollback after {declared.LifecycleOrDefault.DegradationWindows} windows");
        var trial = stream.Deploy(projected, challenger, Candidate);
        trial.Produce(Hours, StreamedHours, StreamPhase.NewFraudEverywhere, cancellationToken);
        trial.Close(StreamedHours, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(settings.Directory, $"{Model}-{Candidate}.json"), challenger.ToJson(), cancellationToken);

        // The monitor's policy rolls back once the incident has stayed open for degradation_windows windows.
        await WaitAsync(async () => _receiver!.Alerts.Any(a => a.Event == "rollback") && (await registry.VersionsAsync(Model)).Any(v => v.Version == Version && v.Stage == ModelStage.Production),
            "the rollback event at the webhook", cancellationToken);
        var rollbacks = _receiver!.Alerts.Where(a => a.Event == "rollback").ToList();
        var rollback = rollbacks[0];
        var history = await registry.History.ReadAsync(Model);
        var entry = history.LastOrDefault(e => e.Action == "rollback") ?? throw new DemoFailure("the rollback is not in the model's history");
        var stages = (await registry.VersionsAsync(Model)).ToDictionary(v => v.Version, v => ModelStages.Name(v.Stage), StringComparer.Ordinal);
        Done($"[red]rollback[/] event received, signature verified: {rollback.Model} {rollback.Version} {rollback.Column} {rollback.Method} = {rollback.Value:0.000} (threshold {rollback.Threshold:0.000}); " +
            $"now {Version} {stages[Version]}, {Candidate} {stages[Candidate]}");
        Done($"model history: {history.Count} stage changes, the last: {entry.Action} {entry.Version} → {ModelStages.Name(entry.To)} by {entry.Actor}, {entry.Replaced} production again");
        _summary.Add(("degradation rolled back", $"{Candidate} roc_auc realized {rollback.Value:0.000} under {rollback.Threshold:0.000} for {declared.LifecycleOrDefault.DegradationWindows} windows → " +
            $"{Version} production again, {Candidate} {stages[Candidate]}; {rollbacks.Count} signed rollback event"));
    }

    private async Task FreshnessAsync(List<Payment> payments, CancellationToken cancellationToken)
    {
        // No payment has arrived since the ones streamed at the start: the source has stalled, and the view's objective says so.
        var view = _repository.FeatureViews.First(v => v.FreshnessMs is not null);
        var objective = TimeSpan.FromMilliseconds(view.FreshnessMs!.Value);
        bool Breach(ReceivedAlert a) => a.Event == "freshness" && a.View == view.Name;
        console.MarkupLine($"[grey]…[/] the payments source has been quiet since the stream at the start; {view.Name} declares freshness: {objective.TotalMinutes:0.#}m");
        await WaitAsync(() => Task.FromResult(_receiver!.Alerts.Any(Breach)), "the freshness alert at the webhook", cancellationToken);
        var breach = _receiver!.Alerts.First(Breach);
        Done($"[red]freshness[/] alert received, signature verified: {breach.View} newest applied event {breach.Value:0.0} s old (objective {breach.Threshold:0} s)");

        // The source resumes: a few payments now, and the incident resolves at the evaluator's next pass.
        var resumed = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var p in payments.Take(20))
        {
            var payment = p with { Id = "r" + p.Id, TimeMs = now };
            _producer!.Produce(PaymentsTopic, new Message<string, byte[]> { Key = payment.User, Value = payment.Json() });
        }

        _producer!.Flush(cancellationToken);
        var resolvedId = breach.Id[..breach.Id.LastIndexOf(':')] + ":resolved";
        await WaitAsync(() => Task.FromResult(_receiver.Alerts.Any(a => a.Id == resolvedId)), "the freshness incident's resolved alert", cancellationToken);
        Done($"[green]resolved[/] alert received {resumed.Elapsed.TotalSeconds:0.0} s after the payments resumed");
        _summary.Add(("stalled source caught", $"{view.Name} newest payment {breach.Value:0.0} s old > objective {breach.Threshold:0} s → freshness alert; resolved {resumed.Elapsed.TotalSeconds:0.0} s after payments resumed"));
    }

    // Where to look once the demo is done: the dashboard while it stays up, and the files it wrote.
    private void SummariseWhereToLook()
    {
        if (settings.KeepRunning)
        {
            _summary.Add(("dashboard", Dashboard.ToString()));
            _summary.Add(("HTTP lookups, metrics", $"{_served!.Value.Http}v1/features/online, {_served.Value.Http}metrics"));
        }
        else
        {
            // The server stops with the demo: an address here would lead nowhere.
            _summary.Add(("dashboard", "stopped with the demo (--keep-running keeps it up)"));
        }

        _summary.Add(("files", $"{settings.Directory} (offline store, training.csv, validation-scored.csv, {Model}-{Version}.json, {Model}-{Candidate}.json)"));
    }

    private static async Task WriteScoredAsync(string file, FraudModel model, TrainingSet set, List<int> rows, bool withFeatures, CancellationToken cancellationToken)
    {
        var text = new StringBuilder(withFeatures ? "score," + string.Join(',', set.Features) + "\n" : "score,is_fraud\n");
        foreach (var i in rows)
        {
            text.Append(model.Score(set.Rows[i]).ToString("R", CultureInfo.InvariantCulture));
            if (withFeatures)
            {
                foreach (var value in set.Rows[i])
                {
                    text.Append(',').Append(value?.ToString("R", CultureInfo.InvariantCulture));
                }
            }
            else
            {
                text.Append(',').Append(set.Payments[i].Fraud ? '1' : '0');
            }

            text.Append('\n');
        }

        await File.WriteAllTextAsync(file, text.ToString(), cancellationToken);
    }

    private async Task WaitAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > StepTimeout || Stalled() is not null)
            {
                var drift = new DriftStore(_host!.Store.Database, _host.Settings.Redis.KeyPrefix, Project);
                var history = await drift.HistoryCountAsync(Model, Version);
                var performance = new PerformanceStore(drift.Database, drift.Keys);
                var labels = await performance.LabelCountsAsync(Model);
                var evaluations = (await performance.HistoryAsync(Model, Version)).Count;
                throw new DemoFailure($"{what} did not arrive within {StepTimeout.TotalMinutes:0} minutes " +
                    $"({history} drift windows evaluated, {evaluations} performance evaluations, labels {labels.Joined} joined, {labels.Pending} pending, {labels.Late} late, {labels.Unmatched} unmatched; " +
                    $"alerts received: {string.Join(", ", _receiver!.Alerts.Select(a => a.Id))}; {_receiver.Refused} refused{(Stalled() is { } why ? "; " + why : "")})");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private static string Replace(string text, string what, string with) =>
        text.Contains(what, StringComparison.Ordinal) ? text.Replace(what, with, StringComparison.Ordinal)
        : throw new DemoFailure($"the example repository no longer contains '{what}'");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _producer?.Dispose(); // before the broker it talks to stops
        await _jobs.CancelAsync();
        if (_running is not null)
        {
            // The host lets each job commit what it has, then returns.
            await _running;
        }

        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _store?.Dispose();
        if (_receiver is not null)
        {
            await _receiver.DisposeAsync();
        }

        _jobs.Dispose();
    }
}
