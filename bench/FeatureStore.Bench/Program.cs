using System.Globalization;
using FeatureStore.Bench.Harness;
using FeatureStore.Bench.Scenarios;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Redis;
using FeatureStore.Testing;

// End-to-end benchmark runner: each scenario next to its raw baseline in the same run, medians and ratios.
// Usage: dotnet run -c Release --project bench/FeatureStore.Bench -- [--quick] [--export-size=EVENTS:ROWS] [scenario ...]
// Scenarios: baseline (raw Kafka and Redis rates), ingest (end to end and engine alone, with ratios), engine (the engine alone), lookup (gRPC lookups against raw reads),
// request-lookup (10 stored + 3 request-time features against the plain lookup of the 10),
// cluster (a six-node Redis Cluster: lookups against raw HVALS on it, the ingest engine on it against one node), sizing (bytes of online state per entity and feature), lookup-stages (each stage of a lookup alone, not part of a full run), lookup-cost (bytes and CPU µs per call: an empty call on a minimal gRPC service and on ours, lookups by each strategy; not part of a full run), plan (apply's event log coverage over many commit markers, not part of a full run), drift (PSI + KS per window), performance (the label join end to end against raw consume), push (push round trips with and without read-after-write against a raw idempotent producer), drift-memory (heap while 10M predictions stream through the windows), formats (the parse rate of Avro and Protobuf events against the same events in JSON),
// export (point-in-time export against DuckDB's ASOF JOIN + window aggregation on the same Parquet files), import (history
// from a JSON-lines file into the event log, against DuckDB loading the same file into Parquet), rebuild (one added feature's
// state built from the event log into the online store, against DuckDB aggregating the same Parquet files; --rebuild-size=N). BenchmarkDotNet micro-benchmarks: --micro [filter].
// aggregations (the ingest engine with percentile and top_k features against the same views without them, not part of a full run).
// freshness (event → visible in a gRPC lookup while ingest, as hosted on the embedded broker, applies a steady 10k and 50k events/s; FRESHNESS_FETCH_WAIT_MS and FRESHNESS_BATCH_DELAY_MS add a run with those ingest knobs;
// FRESHNESS_RATES=10000,… sets the rates; FRESHNESS_BACKLOG=N the backlog of the knobs' throughput row, 0 for none).
// ENGINE_EVENTS=N runs the engine alone over N events (batches of the job's default size) instead of 500 000; ENGINE_PARTITIONS=N spreads them
// over N partitions by user (a merchant then has a state in each);
// INGEST_EVENTS=N runs ingest end to end (and its raw consume) over N events instead of 100 000, on a topic with partitions enough to hold them;
// INGEST_COMPRESSION=zstd (or lz4, gzip, snappy) produces that topic compressed, so it needs fewer partitions;
// BUILD_AT_ONCE=1 builds each batch at once on every core instead of in the background (the job's default).
// Before anything else, as the serving host's entry point does (LOOKUP_COST_DEFAULT_POOL=1 keeps the runtime's default).
if (Environment.GetEnvironmentVariable("LOOKUP_COST_DEFAULT_POOL") != "1")
{
    FeatureStore.Serving.FeatureServer.ConfigureProcess();
}

if (args.Contains("--micro"))
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(FeatureStore.Bench.Micro.MicroConfig).Assembly)
        .Run([.. args.Where(a => a != "--micro")]);
    return 0;
}

var quick = args.Contains("--quick");
var scenarios = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
bool Wants(string name) => scenarios.Count == 0 || scenarios.Contains(name);
var repetitions = quick ? 3 : 7;
var rows = new List<ResultRow>();

if (Wants("baseline"))
{
    var keys = quick ? 20_000 : 100_000;
    Console.Error.WriteLine($"baseline: raw Redis HSET/HMGET of {keys.ToString(CultureInfo.InvariantCulture)} keys × {repetitions} runs");
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await RawRedisScenario.RunAsync("redis-server", redis.Database, keys, repetitions));
    }
    else
    {
        Console.Error.WriteLine("redis-server not installed: skipping its rows (scripts/install-deps.sh installs it)");
    }

    await using (var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName))
    {
        rows.AddRange(await RawRedisScenario.RunAsync("embedded garnet", garnet.Database, keys, repetitions));
    }

    // The mock broker slows down on very large topics (DESIGN.md §2): keep the topic a few hundred thousand.
    var messages = quick ? 50_000 : 100_000;
    Console.Error.WriteLine($"baseline: raw Kafka produce/consume of {messages.ToString(CultureInfo.InvariantCulture)} messages on the embedded broker");
    using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
    rows.AddRange(await RawKafkaScenario.RunAsync(kafka, messages, repetitions));
}

if (Wants("ingest") || scenarios.Contains("engine"))
{
    // The engine alone runs over several batches (each built while the next is read, and written while the one
    // after is built), as a member catching up does; end to end stays within what the embedded broker keeps.
    var engineEvents = Environment.GetEnvironmentVariable("ENGINE_EVENTS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : quick ? 100_000 : 500_000;
    var endToEndEvents = Environment.GetEnvironmentVariable("INGEST_EVENTS") is { } e ? int.Parse(e, CultureInfo.InvariantCulture) : quick ? 20_000 : 100_000;
    var engineOnly = !Wants("ingest");
    Console.Error.WriteLine(engineOnly
        ? $"ingest: engine alone over {engineEvents.ToString(CultureInfo.InvariantCulture)} events"
        : $"ingest: engine alone over {engineEvents.ToString(CultureInfo.InvariantCulture)} events, end to end over {endToEndEvents.ToString(CultureInfo.InvariantCulture)}");
    using var kafka = engineOnly ? null : EmbeddedKafkaCluster.Start(brokers: 1);
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await IngestScenario.RunAsync("redis-server", redis.Database, kafka, engineEvents, endToEndEvents, repetitions));
    }

    await using (var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName))
    {
        rows.AddRange(await IngestScenario.RunAsync("embedded garnet", garnet.Database, kafka, engineEvents, endToEndEvents, repetitions));
    }
}

if (scenarios.Contains("aggregations"))
{
    // Not part of a full run: the ingest engine with percentile and top_k features against the same views without them.
    var engineEvents = Environment.GetEnvironmentVariable("ENGINE_EVENTS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : quick ? 100_000 : 500_000;
    Console.Error.WriteLine($"aggregations: the engine alone over {engineEvents.ToString(CultureInfo.InvariantCulture)} events with and without percentile and top_k");
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await IngestScenario.AggregationsAsync("redis-server", redis.Database, engineEvents, repetitions));
    }
    else
    {
        await using var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
        rows.AddRange(await IngestScenario.AggregationsAsync("embedded garnet", garnet.Database, engineEvents, repetitions));
    }
}

if (Wants("lookup"))
{
    Console.Error.WriteLine("lookup: gRPC lookups of 1 and 100 entities × 10 features against raw HGETALLs of the same keys");
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await LookupScenario.RunAsync("redis-server", redis.Multiplexer, repetitions, quick));
    }

    await using (var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName))
    {
        rows.AddRange(await LookupScenario.RunAsync("embedded garnet", garnet.Multiplexer, repetitions, quick));
    }
}

if (Wants("request-lookup"))
{
    Console.Error.WriteLine("request-lookup: lookups of 10 stored + 3 request-time features against the plain lookup of the 10");
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await RequestFeatureLookupScenario.RunAsync("redis-server", redis.Multiplexer, repetitions, quick));
    }
}

if (Wants("cluster"))
{
    // A six-node Redis Cluster on this machine: lookups against raw reads on it, the ingest engine on it against one node.
    var engineEvents = Environment.GetEnvironmentVariable("ENGINE_EVENTS") is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : quick ? 100_000 : 500_000;
    if (RedisServer.IsInstalled)
    {
        rows.AddRange(await ClusterScenario.RunAsync(engineEvents, repetitions, quick));
    }
    else
    {
        Console.Error.WriteLine("redis-server not installed: skipping the cluster scenario (scripts/install-deps.sh installs it)");
    }
}

if (Wants("sizing"))
{
    Console.Error.WriteLine("sizing: bytes of online state per entity and feature, eight days of events at four rates through the ingest engine");
    if (RedisServer.IsInstalled)
    {
        rows.AddRange(await SizingScenario.RunAsync(quick));
    }
    else
    {
        Console.Error.WriteLine("redis-server not installed: skipping the sizing scenario");
    }
}

if (scenarios.Contains("lookup-stages"))
{
    // A profiling aid: only when named, its output printed as it goes rather than as rows of the table. On embedded
    // Garnet, or on redis-server with LOOKUP_STAGES_STORE=redis-server.
    await using var redisServer = Environment.GetEnvironmentVariable("LOOKUP_STAGES_STORE") == "redis-server" ? await RedisServer.StartAsync() : null;
    await using var store = await OnlineStoreConnection.ConnectAsync(redisServer?.Endpoint ?? OnlineStoreConnection.EmbeddedName);
    await LookupStages.RunAsync(store.Multiplexer, quick ? 300 : 1000);
}

if (scenarios.Contains("lookup-cost"))
{
    // A profiling aid (only when named): bytes and CPU µs per call, on a redis-server of its own.
    await using var redisServer = await RedisServer.StartAsync();
    await using var store = await OnlineStoreConnection.ConnectAsync(redisServer.Endpoint);
    await LookupCost.RunAsync(store.Multiplexer, quick ? 400 : 1000);
}

if (scenarios.Contains("request-stages"))
{
    // A profiling aid (only when named): the stages of the plain and the request-time lookup, on a redis-server of its own.
    await using var redisServer = await RedisServer.StartAsync();
    await using var store = await OnlineStoreConnection.ConnectAsync(redisServer.Endpoint);
    await RequestFeatureLookupScenario.StagesAsync(store.Multiplexer, quick ? 300 : 1000);
}

if (scenarios.Contains("plan"))
{
    // apply's plan on a large log (only when named): 4 partitions × 30 days × 100 batches a day of commit markers.
    rows.AddRange(await PlanScenario.RunAsync(partitions: 4, days: 30, batchesPerDay: quick ? 25 : 100, repetitions));
}

if (Wants("export"))
{
    // Full size is the contract's: 1M entity rows over 10M events (three runs each: a run takes minutes).
    // --export-size=EVENTS:ROWS sets other sizes (for profiling between the two).
    var size = args.FirstOrDefault(a => a.StartsWith("--export-size=", StringComparison.Ordinal))?["--export-size=".Length..].Split(':');
    var events = size is not null ? int.Parse(size[0], CultureInfo.InvariantCulture) : quick ? 200_000 : 10_000_000;
    var entityRows = size is not null ? int.Parse(size[1], CultureInfo.InvariantCulture) : quick ? 50_000 : 1_000_000;
    Console.Error.WriteLine($"export: {entityRows.ToString(CultureInfo.InvariantCulture)} entity rows over {events.ToString(CultureInfo.InvariantCulture)} events, against DuckDB");
    rows.AddRange(await ExportScenario.RunAsync(events, entityRows, quick ? repetitions : 3));
}

if (Wants("import"))
{
    var events = quick ? 200_000 : 2_000_000;
    Console.Error.WriteLine($"import: {events.ToString(CultureInfo.InvariantCulture)} history events from an unsorted JSON-lines file into the event log, against DuckDB");
    rows.AddRange(await ImportScenario.RunAsync(events, quick ? 3 : repetitions));
}

if (Wants("rebuild"))
{
    // One added feature built from the event log: 10M logged events in full mode (--rebuild-size=N for others).
    var size = args.FirstOrDefault(a => a.StartsWith("--rebuild-size=", StringComparison.Ordinal))?["--rebuild-size=".Length..];
    var events = size is not null ? int.Parse(size, CultureInfo.InvariantCulture) : quick ? 200_000 : 10_000_000;
    const int runs = 3; // a full run reads 10M rows each time: three runs, as the export's
    Console.Error.WriteLine($"rebuild: one added feature over {events.ToString(CultureInfo.InvariantCulture)} logged events, against DuckDB reading the same Parquet files");
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await RebuildScenario.RunAsync("redis-server", redis.Database, events, runs));
    }
    else
    {
        await using var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
        rows.AddRange(await RebuildScenario.RunAsync("embedded garnet", garnet.Database, events, runs));
    }
}

if (Wants("drift"))
{
    Console.Error.WriteLine("drift: PSI + KS per window of 100k predictions against a 100k-row training baseline");
    rows.AddRange(await DriftScenario.RunAsync(window: 100_000, training: 100_000, repetitions));
    var predictions = quick ? 20_000 : 100_000;
    Console.Error.WriteLine($"drift: the monitor job end to end, {predictions.ToString(CultureInfo.InvariantCulture)} predictions through the embedded broker");
    using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
    await using var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
    rows.AddRange(await DriftScenario.RunEndToEndAsync(kafka, garnet.Database, predictions, repetitions));
}

if (Wants("performance"))
{
    var predictions = quick ? 20_000 : 100_000;
    Console.Error.WriteLine($"performance: the label join end to end, {predictions.ToString(CultureInfo.InvariantCulture)} predictions and their labels through the embedded broker");
    using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await PerformanceScenario.RunAsync("redis-server", kafka, redis.Database, predictions, repetitions));
    }

    await using var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
    rows.AddRange(await PerformanceScenario.RunAsync("embedded garnet", kafka, garnet.Database, predictions, repetitions));
}

if (Wants("formats"))
{
    var events = quick ? 200_000 : 1_000_000;
    Console.Error.WriteLine($"formats: parsing {events.ToString(CultureInfo.InvariantCulture)} payment events as JSON, Avro and Protobuf");
    rows.AddRange(await PayloadFormatScenario.RunAsync(events, repetitions));
}

if (Wants("push"))
{
    Console.Error.WriteLine("push: gRPC push round trips of 1 and 100 events, answered once produced and once applied online, against a raw idempotent producer");
    using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
    if (RedisServer.IsInstalled)
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await OnlineStoreConnection.ConnectAsync(server.Endpoint);
        rows.AddRange(await PushScenario.RunAsync("redis-server", redis.Multiplexer, kafka, repetitions, quick));
        rows.AddRange(await PushScenario.RunAsync("redis-server", redis.Multiplexer, kafka, repetitions, quick, fetchWaitMs: 10));
    }
    else
    {
        await using var garnet = await OnlineStoreConnection.ConnectAsync(OnlineStoreConnection.EmbeddedName);
        rows.AddRange(await PushScenario.RunAsync("embedded garnet", garnet.Multiplexer, kafka, repetitions, quick));
    }
}

if (Wants("freshness"))
{
    // Event → visible in a lookup at steady 10k and 50k events/s, with the ingest as the host runs it on the embedded
    // broker (fetch.wait.max.ms=10, HostJobOptions.EmbeddedFetchWait; the default batch delay) and, for each rate,
    // with the knobs FRESHNESS_FETCH_WAIT_MS (its consumer's fetch.wait.max.ms) and FRESHNESS_BATCH_DELAY_MS
    // (MaxBatchDelay) when set.
    Console.Error.WriteLine("freshness: event → visible in a gRPC lookup while the ingest job applies a steady 10k and 50k events/s");
    using var kafka = EmbeddedKafkaCluster.Start(brokers: 1);
    await using var server = RedisServer.IsInstalled ? await RedisServer.StartAsync() : null;
    await using var store = await OnlineStoreConnection.ConnectAsync(server?.Endpoint ?? OnlineStoreConnection.EmbeddedName);
    var target = server is null ? "embedded garnet" : "redis-server";
    var hosted = new FreshnessScenario.IngestSettings(FetchWaitMs: 10);
    var tuned = new FreshnessScenario.IngestSettings(
        Environment.GetEnvironmentVariable("FRESHNESS_FETCH_WAIT_MS") is { } f ? int.Parse(f, CultureInfo.InvariantCulture) : 10,
        Environment.GetEnvironmentVariable("FRESHNESS_BATCH_DELAY_MS") is { } d ? TimeSpan.FromMilliseconds(int.Parse(d, CultureInfo.InvariantCulture)) : null);
    var rates = Environment.GetEnvironmentVariable("FRESHNESS_RATES") is { } r ? r.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : [10_000, 50_000];
    foreach (var rate in rates)
    {
        rows.AddRange(await FreshnessScenario.RunAsync(target, store.Multiplexer, kafka, rate, quick, hosted));
        if (tuned != hosted)
        {
            rows.AddRange(await FreshnessScenario.RunAsync(target, store.Multiplexer, kafka, rate, quick, tuned));
        }
    }

    // What the short fetch wait costs: the ingest's rate over a backlog, with librdkafka's defaults and as hosted
    // (alternating runs).
    var backlog = Environment.GetEnvironmentVariable("FRESHNESS_BACKLOG") is { } b ? int.Parse(b, CultureInfo.InvariantCulture) : quick ? 200_000 : 500_000;
    var (plain, knobs) = (new List<double>(), new List<double>());
    for (var rep = 0; rep < (backlog == 0 ? 0 : Math.Min(repetitions, 3)); rep++)
    {
        plain.Add(await FreshnessScenario.BacklogRateAsync(store.Multiplexer, kafka, backlog, new FreshnessScenario.IngestSettings()));
        knobs.Add(await FreshnessScenario.BacklogRateAsync(store.Multiplexer, kafka, backlog, hosted));
    }

    rows.AddRange(backlog == 0 ? [] : [new ResultRow($"freshness ({target}{hosted.Describe()})", $"ingest over a backlog of {backlog / 1000}k events, from the assignment", Measure.Median(knobs), "events/s",
        "the same with librdkafka's fetch.wait.max.ms (500)", Measure.Median(plain))]);
}

if (Wants("drift-memory") && (scenarios.Count > 0 || !quick))
{
    var predictions = quick ? 1_000_000L : 10_000_000L;
    Console.Error.WriteLine($"drift-memory: {predictions.ToString("N0", CultureInfo.InvariantCulture)} predictions streamed through the windows of four monitored columns");
    rows.AddRange(await DriftScenario.RunMemoryAsync(predictions, window: 100_000));
}

Console.WriteLine();
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {(quick ? "quick" : "full")} run, medians of {repetitions}");
Console.WriteLine();
Console.WriteLine(ResultTable.ToMarkdown(rows));
return 0;
