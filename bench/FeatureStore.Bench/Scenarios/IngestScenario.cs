using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Bench.Harness;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest;
using FeatureStore.Kafka.Embedded;
using FeatureStore.Redis.Online;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace FeatureStore.Bench.Scenarios;

/// <summary>
/// Ingest: (1) end to end, Kafka → parse → tiles → online store, against the raw consume rate of the same
/// topic measured in the same run; (2) the engine alone, events from memory → parse → tiles → online store,
/// against raw pipelined writes of one hash field per event in batches of the same size.
/// The repository is examples/fraud (two views, thirteen features).
/// </summary>
internal static class IngestScenario
{
    // The engine alone writes batches of the job's default size.
    private static readonly int Batch = new IngestOptions { BootstrapServers = "" }.MaxBatchEvents;

    /// <summary>BUILD_AT_ONCE=1 builds each batch at once on every core instead of in the background (IngestOptions.BuildInBackground).</summary>
    private static readonly bool BuildInBackground = Environment.GetEnvironmentVariable("BUILD_AT_ONCE") != "1";

    /// <summary>
    /// ENGINE_PARTITIONS=N spreads the engine alone's events over N partitions by user, as a topic of N partitions
    /// keyed by user does: a merchant then has a state in each partition.
    /// </summary>
    private static readonly int EnginePartitions = int.Parse(Environment.GetEnvironmentVariable("ENGINE_PARTITIONS") ?? "1", CultureInfo.InvariantCulture);

    /// <summary>
    /// INGEST_COMPRESSION=lz4 (or gzip, snappy, zstd) produces the end to end's topic compressed: the mock broker keeps
    /// 5 MB per partition, so a large topic needs far fewer partitions. Each partition of a source holds its own state
    /// of a key spread over all of them (a merchant's, in a topic keyed by user), so the partition count weighs on
    /// the work per event.
    /// </summary>
    private static readonly CompressionType Compression = Enum.Parse<CompressionType>(Environment.GetEnvironmentVariable("INGEST_COMPRESSION") ?? "none", ignoreCase: true);

    /// <summary>
    /// The rows of <paramref name="target"/>. With <paramref name="landBeforeSeal"/> the engine alone waits for the
    /// write two batches back to land before it seals the next batch, instead of sealing first as the job does (see
    /// <see cref="EngineAloneAsync"/>).
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(
        string target, IDatabase db, EmbeddedKafkaCluster? kafka, int engineEvents, int endToEndEvents, int repetitions, bool landBeforeSeal = false)
    {
        var repository = CompiledRepository.Compile(LoadExample());
        // Restamp the generated events to end now, so none is "too far in the future" or late.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var payloads = Restamp(RawKafkaScenario.SamplePayloads(engineEvents), now);

        // One writer for every repetition, as a long-running member has: each repetition is a new partition
        // of the source (new states and checkpoint), so it starts from an empty store like the first.
        var keys = new OnlineKeys($"bench{Guid.NewGuid():N}"[..12], repository.Repository.Project);
        var writer = new OnlineTileWriter(db, keys, "bench", repository.Repository.Settings.AllowedLatenessMs, 200_000) { BuildInBackground = BuildInBackground };
        var stages = new List<EngineStages>();
        var engine = await Measure.MedianRateAsync(repetitions, async rep => await EngineAloneAsync(repository, writer, rep, payloads, stages, landBeforeSeal));
        PrintStages(target, stages);
        var rawWrites = await Measure.MedianRateAsync(repetitions, async _ => await RawWritesAsync(db, payloads));
        var engineRow = new ResultRow($"ingest ({target})", $"engine alone: memory → parse → tiles → store, {engineEvents / 1000}k events{(EnginePartitions == 1 ? "" : $", {EnginePartitions} partitions")}", engine, "events/s", "raw pipelined HSET, one per event", rawWrites);
        if (kafka is null)
        {
            return [engineRow];
        }

        var events = endToEndEvents;
        payloads = Restamp(RawKafkaScenario.SamplePayloads(events), now);
        var topic = $"bench-ingest-{Guid.NewGuid():N}";
        var partitions = RawKafkaScenario.PartitionsFor(events, Compression);
        kafka.CreateTopic(topic, partitions);
        // Keyed by user, as a payments topic is: a user's events are in one partition (a merchant's in all).
        RawKafkaScenario.Produce(kafka.BootstrapServers, topic, payloads, i => UserKey(payloads[i]), Compression);
        RawKafkaScenario.EnsureWhole(kafka.BootstrapServers, topic, partitions);
        var rawCpu = new List<CpuUse>();
        var rawConsume = await Measure.MedianRateAsync(repetitions, _ =>
        {
            var use = CpuUse.Start();
            var count = RawKafkaScenario.ConsumeAll(kafka.BootstrapServers, topic, events, partitions);
            rawCpu.Add(use.Stop());
            return Task.FromResult(count);
        });
        var endToEndRates = new List<double>();
        var endToEndCpu = new List<CpuUse>();
        for (var rep = 0; rep < Math.Max(1, repetitions / 2); rep++)
        {
            var use = CpuUse.Start();
            endToEndRates.Add(await EndToEndAsync(repository, db, kafka.BootstrapServers, topic, events));
            endToEndCpu.Add(use.Stop());
        }

        // On two cores a rate is bounded by the CPU each event costs: this process's (the embedded broker's included)
        // and the store's, per event, beside the cores busy on average over the run.
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ingest ({target}) CPU per event, medians: raw consume {CpuUse.Describe(rawCpu, events)}; end to end {CpuUse.Describe(endToEndCpu, events)} (the group join included)"));

        var endToEnd = Measure.Median(endToEndRates);

        return
        [
            new ResultRow($"ingest ({target})", $"end to end: Kafka → tiles → store, {events / 1000}k events, {partitions} partitions{(Compression == CompressionType.None ? "" : ", " + Compression.ToString().ToLowerInvariant())} (after the group join)", endToEnd, "events/s", "raw consume, same topic", rawConsume),
            engineRow,
        ];
    }

    /// <summary>
    /// The engine alone over the example's views with their scalar features only, against the same views with a
    /// percentile (p95 of amounts over 24h) and a top_k (5 merchants over 7d) added to the user view, in one run:
    /// what the quantile sketch and the value counts cost per event.
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> AggregationsAsync(string target, IDatabase db, int engineEvents, int repetitions)
    {
        var example = LoadExample();
        var scalar = example with
        {
            FeatureViews = [.. example.FeatureViews.Select(v => v with { Features = [.. v.Features.Where(f => !AggregationKinds.HasParameter(f.Aggregation))] })],
        };
        var added = new FeatureDefinition[]
        {
            new("amount_p95_24h", AggregationKind.Percentile, "amount", new WindowSpec(86_400_000, 3_600_000), 0.95),
            new("top_merchants_7d", AggregationKind.TopK, "merchant_id", new WindowSpec(7 * 86_400_000L, 86_400_000), 5),
        };
        var withNew = scalar with
        {
            FeatureViews = [.. scalar.FeatureViews.Select(v => v.Name == "user_txn_stats" ? v with { Features = [.. v.Features, .. added] } : v)],
        };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var payloads = Restamp(RawKafkaScenario.SamplePayloads(engineEvents), now);
        var rates = new List<double>();
        foreach (var repository in new[] { scalar, withNew })
        {
            var compiled = CompiledRepository.Compile(repository);
            var keys = new OnlineKeys($"bench{Guid.NewGuid():N}"[..12], repository.Project);
            var writer = new OnlineTileWriter(db, keys, "bench", repository.Settings.AllowedLatenessMs, 200_000) { BuildInBackground = BuildInBackground };
            rates.Add(await Measure.MedianRateAsync(repetitions, async rep => await EngineAloneAsync(compiled, writer, rep, payloads, [], landBeforeSeal: false)));
        }

        return
        [
            new ResultRow($"aggregations ({target})", $"engine alone + percentile and top_k, {engineEvents / 1000}k events", rates[1], "events/s",
                "the same views without them", rates[0]),
        ];
    }

    private static int UserHash(byte[] payload)
    {
        var hash = default(HashCode);
        hash.AddBytes(UserKey(payload));
        return hash.ToHashCode();
    }

    private static byte[] UserKey(byte[] payload)
    {
        var json = payload.AsSpan();
        var start = json.IndexOf("\"user_id\":\""u8) + 11;
        var length = json[start..].IndexOf((byte)'"');
        return json.Slice(start, length).ToArray();
    }

    private static FeatureRepository LoadExample() =>
        FeatureRepositoryLoader.Load(FeatureStore.Testing.RepositoryPaths.FraudExample).Repository!;

    private static byte[][] Restamp(byte[][] payloads, long endMs)
    {
        var first = endMs - (payloads.Length * 50L);
        return [.. payloads.Select((p, i) =>
        {
            var text = System.Text.Encoding.UTF8.GetString(p);
            var at = text.IndexOf("\"event_time\":\"", StringComparison.Ordinal) + 14;
            return System.Text.Encoding.UTF8.GetBytes(text[..at] + Rfc3339.Format(first + (i * 50L)) + "\"}");
        })];
    }

    /// <summary>Where one repetition of the engine alone spent its time: parsing and buffering, reading stored states, building, writing (after the last batch was built).</summary>
    private sealed record EngineStages(double Buffer, double Load, double Build, double Write, int States, long Bytes, long Allocated, double GcPause, int Gen1, double Cpu, double StoreCpu, double Wall);

    private static void PrintStages(string target, List<EngineStages> stages)
    {
        // The first repetition warms up (JIT, buffers): the medians are of the others.
        var kept = stages.Count > 1 ? stages.Skip(1).ToList() : stages;
        double Median(Func<EngineStages, double> of) => Measure.Median([.. kept.Select(of)]);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine ({target}), medians per {kept.Count} runs: parse + buffer {Median(s => s.Buffer):F0} ms, read stored states {Median(s => s.Load):F0} ms, " +
            $"build {Median(s => s.Build):F0} ms ({Median(s => s.States):F0} states, {Median(s => s.Bytes) / 1e6:F1} MB encoded, {Median(s => s.Allocated) / 1e6:F1} MB allocated), write {Median(s => s.Write):F0} ms; " +
            $"GC pauses {Median(s => s.GcPause):F0} ms ({Median(s => s.Gen1):F0} gen1+ collections); " +
            $"CPU {Median(s => s.Cpu):F0} ms (this process), {Median(s => s.StoreCpu):F0} ms (the store's, when another process) in {Median(s => s.Wall):F0} ms"));
    }

    // As the job (BatchPipeline) does: on a store where a write goes out in steps (a Redis Cluster), the write in flight
    // lands before the batch after next, which reuses its arguments, is sealed. landBeforeSeal asks for it everywhere.
    private static async Task<long> EngineAloneAsync(CompiledRepository repository, OnlineTileWriter writer, int rep, byte[][] payloads, List<EngineStages> stages, bool landBeforeSeal)
    {
        // Before the clocks start: the partition of each payment.
        var assignment = payloads.Select(p => EnginePartitions == 1 ? 0 : (int)((uint)UserHash(p) % EnginePartitions)).ToArray();
        double buffer = 0, load = 0, build = 0, write;
        var states = 0;
        long bytes = 0, allocated = 0;
        var pauses = GC.GetTotalPauseDuration();
        var gen1 = GC.CollectionCount(1);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var storeCpu = StoreCpu();
        var wall = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        var source = repository.Sources[0];
        var binding = new SourceBinding(source.Definition.Name, source.Definition.Topic, source.Definition.DeadLetterTopic, source.Schema, source);
        var parser = new EventParser(source.Schema);
        // Each repetition has partitions of its own; a payment goes to its user's, as a topic keyed by user spreads them.
        var partitions = Enumerable.Range(rep * EnginePartitions, EnginePartitions).Select(p => new TopicPartition(source.Definition.Topic, p)).ToArray();
        var offsets = new long[EnginePartitions];
        var stored = new PartitionCheckpoint?[EnginePartitions];
        PreparedWrite? inFlight = null, built = null;
        for (var i = 0; i < payloads.Length; i++)
        {
            if (parser.Parse(payloads[i]) != ParseError.None)
            {
                throw new InvalidOperationException("bench payload rejected: " + parser.ErrorField);
            }

            var p = assignment[i];
            writer.Add(binding, partitions[p], offsets[p]++, parser);
            if ((i + 1) % Batch == 0 || i == payloads.Length - 1)
            {
                // As the job does: this batch was buffered while the one before was built (at once, or in the
                // background) and the one before that written. This one is sealed (its states not in memory
                // read), then the built one goes out once that write has landed.
                buffer += clock.Elapsed.TotalMilliseconds;
                if (landBeforeSeal || writer.WritesInSteps)
                {
                    await CompleteAsync(writer, inFlight);
                    inFlight = null;
                }

                var expected = new Dictionary<TopicPartition, PartitionCheckpoint?>();
                var next = new Dictionary<TopicPartition, PartitionCheckpoint>();
                for (var q = 0; q < EnginePartitions; q++)
                {
                    if (offsets[q] > (stored[q]?.NextOffset ?? 0))
                    {
                        expected[partitions[q]] = stored[q];
                        next[partitions[q]] = new PartitionCheckpoint(offsets[q], 0);
                        stored[q] = next[partitions[q]];
                    }
                }

                var sealedNow = await writer.PrepareAsync(expected, next, CancellationToken.None);
                inFlight = await SendBuiltAsync(writer, inFlight, built);
                Count(built);
                built = sealedNow;
                clock.Restart();
            }
        }

        clock.Restart();
        await CompleteAsync(writer, await SendBuiltAsync(writer, inFlight, built));
        Count(built);
        write = clock.Elapsed.TotalMilliseconds;

        // A batch's figures are known once its build is over, at the latest when it is sent.
        void Count(PreparedWrite? sent)
        {
            if (sent?.Figures is { } batch)
            {
                load += batch.LoadTime.TotalMilliseconds;
                build += batch.BuildTime.TotalMilliseconds;
                states += batch.States;
                bytes += batch.EncodedBytes;
                allocated += batch.AllocatedBytes;
            }
        }

        stages.Add(new EngineStages(buffer, load, build, write, states, bytes, allocated, (GC.GetTotalPauseDuration() - pauses).TotalMilliseconds, GC.CollectionCount(1) - gen1,
            (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds, StoreCpu() - storeCpu, wall.Elapsed.TotalMilliseconds));
        return payloads.Length;
    }

    /// <summary>CPU time used by redis-server processes (the bench starts one), in ms, from /proc; embedded Garnet's is this process's.</summary>
    internal static double StoreCpu()
    {
        var ticks = 0L;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "redis-server")
                {
                    // utime and stime, the 14th and 15th fields, after the parenthesised name.
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // exited meanwhile, or not a process
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return ticks * 10.0; // 100 ticks per second
    }

    private static async Task<PreparedWrite?> SendBuiltAsync(OnlineTileWriter writer, PreparedWrite? inFlight, PreparedWrite? built)
    {
        if (built is null)
        {
            return inFlight;
        }

        await CompleteAsync(writer, inFlight);
        await built.FinishBuildAsync();
        writer.Send(built);
        return built;
    }

    private static async Task CompleteAsync(OnlineTileWriter writer, PreparedWrite? write)
    {
        if (write is not null && (await writer.CompleteAsync(write)).Count > 0)
        {
            throw new InvalidOperationException("unexpectedly fenced");
        }
    }

    private static async Task<long> RawWritesAsync(IDatabase db, byte[][] payloads)
    {
        var prefix = $"bench-raw-{Guid.NewGuid():N}:";
        for (var start = 0; start < payloads.Length; start += Batch)
        {
            var batch = db.CreateBatch();
            var pending = new List<Task>(Batch);
            for (var i = start; i < Math.Min(payloads.Length, start + Batch); i++)
            {
                pending.Add(batch.HashSetAsync(prefix + (i % 10_000), "p0", payloads[i]));
            }

            batch.Execute();
            await Task.WhenAll(pending);
        }

        return payloads.Length;
    }

    private static async Task<double> EndToEndAsync(CompiledRepository repository, IDatabase db, string bootstrap, string topic, int events)
    {
        // The example's source topic is renamed to the bench topic.
        var source = repository.Sources[0];
        var renamed = CompiledRepository.Compile(repository.Repository with
        {
            Sources = [source.Definition with { Topic = topic, DeadLetterTopic = topic + ".dlq" }],
        });
        using var metrics = new IngestMetrics();
        var prefix = $"bench{Guid.NewGuid():N}"[..12];
        var group = "bench-" + prefix;
        var checkpoints = new OnlineKeys(prefix, renamed.Repository.Project).Checkpoints(group);
        var assigned = new AssignmentClock();
        var job = IngestJobFactory.Create(renamed, new IngestOptions { BootstrapServers = bootstrap, GroupId = group, BuildInBackground = BuildInBackground }, db, prefix, metrics, assigned);
        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => job.RunAsync(cts.Token));

        // Timed from the assignment (the group join before it has a fixed delay that the raw consumer,
        // assigned directly, does not pay) until every event is written with its checkpoint.
        var clock = Stopwatch.StartNew();
        long written = 0;
        while (written < events && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            if (metrics.EventsTotal + metrics.DeadLetteredTotal >= events)
            {
                written = (await db.HashValuesAsync(checkpoints)).Sum(v => PartitionCheckpoint.Parse(v.ToString()).NextOffset);
            }

            await Task.Delay(5);
        }

        var elapsed = assigned.Elapsed - (assigned.At ?? throw new InvalidOperationException("never assigned"));
        await cts.CancelAsync();
        await run;
        if (written < events)
        {
            throw new InvalidOperationException($"wrote {written} of {events} ({metrics.DeadLetteredTotal} dead-lettered)");
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  end to end over {events} events: {elapsed.TotalSeconds:F1} s from the assignment, {metrics.BatchesWritten} batches ({events / (double)Math.Max(1, metrics.BatchesWritten):F0} events each)"));
        return events / elapsed.TotalSeconds;
    }

    /// <summary>The CPU this process and the store used over a run, and its wall time.</summary>
    private readonly record struct CpuUse(double ProcessMs, double StoreMs, double WallMs, long StartedAt = 0)
    {
        public static CpuUse Start() => new(Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds, StoreCpu(), 0, Stopwatch.GetTimestamp());

        public CpuUse Stop() => new(
            Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds - ProcessMs,
            StoreCpu() - StoreMs,
            Stopwatch.GetElapsedTime(StartedAt).TotalMilliseconds);

        public static string Describe(List<CpuUse> runs, int events)
        {
            double Median(Func<CpuUse, double> of) => Measure.Median([.. runs.Select(of)]);
            return string.Create(CultureInfo.InvariantCulture,
                $"{Median(r => r.ProcessMs) * 1000 / events:F1} µs (process) + {Median(r => r.StoreMs) * 1000 / events:F1} µs (store), {Median(r => (r.ProcessMs + r.StoreMs) / r.WallMs):F2} cores busy");
        }
    }

    /// <summary>Notes when the job logs its first assignment (event 3 of IngestJob's log).</summary>
    internal sealed class AssignmentClock : ILogger
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _atTicks = -1;

        /// <summary>Time since this clock was made.</summary>
        public TimeSpan Elapsed => _clock.Elapsed;

        /// <summary>Time from when this clock was made to the first assignment.</summary>
        public TimeSpan? At => Interlocked.Read(ref _atTicks) is var ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 3)
            {
                Interlocked.CompareExchange(ref _atTicks, _clock.Elapsed.Ticks, -1);
            }
        }
    }
}
