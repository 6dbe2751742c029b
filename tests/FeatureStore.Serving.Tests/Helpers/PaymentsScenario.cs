using System.Globalization;
using Confluent.Kafka;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Windows;
using FeatureStore.Ingest;
using FeatureStore.Redis.Online;
using FeatureStore.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace FeatureStore.Serving.Tests.Helpers;

/// <summary>One payment event as produced, with its position in the stream (ties of last).</summary>
internal sealed record Payment(string User, string Merchant, double Amount, string Country, long Time, int Index);

/// <summary>
/// Payments over three feature views (two about users, one about merchants): a repository on a unique
/// topic, random events produced to the embedded broker, the real ingest job run until it has applied
/// them, and the §4 reference value of any (view, entity) at any instant, computed from the raw events.
/// </summary>
internal sealed class PaymentsScenario
{
    public const string Project = "stest";

    /// <summary>The payments repository on <paramref name="topic"/>, with <paramref name="extraViews"/> (YAML list items) added to its views.</summary>
    public PaymentsScenario(string topic, string? extraViews = null)
    {
        Topic = topic;
        RepositoryYaml = extraViews is null ? PaymentsRepository.Yaml(topic) : PaymentsRepository.Yaml(topic).Replace("\nmodels:\n", "\n" + extraViews + "models:\n", StringComparison.Ordinal);
        var load = FeatureRepositoryLoader.LoadFromText(RepositoryYaml, "stest.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        Repository = load.Repository!;
        Compiled = CompiledRepository.Compile(Repository);
    }

    public string Topic { get; }

    public FeatureRepository Repository { get; }

    public CompiledRepository Compiled { get; }

    public string RepositoryYaml { get; }

    public string KeyPrefix { get; } = "s" + Guid.NewGuid().ToString("N")[..8];

    public List<Payment> Events { get; } = [];

    /// <summary>Random payments of <paramref name="users"/> users at 20 merchants, up to 3 h before <paramref name="nowMs"/>, shuffled.</summary>
    public void Produce(string bootstrap, int count, int users, int seed, long nowMs)
    {
        var random = new Random(seed);
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
        }).Build();
        for (var i = 0; i < count; i++)
        {
            var payment = new Payment(
                "u" + random.Next(users).ToString(CultureInfo.InvariantCulture),
                "m" + random.Next(20).ToString(CultureInfo.InvariantCulture),
                Math.Round(random.NextDouble() * 500, 2),
                new[] { "FR", "DE", "IT", "ES" }[random.Next(4)],
                nowMs - random.NextInt64(0, 3 * 3_600_000),
                i);
            Events.Add(payment);
            var json = $$"""{"user_id":"{{payment.User}}","merchant_id":"{{payment.Merchant}}","amount":{{payment.Amount.ToString(CultureInfo.InvariantCulture)}},"country":"{{payment.Country}}","ts":{{payment.Time}}}""";
            producer.Produce(Topic, new Message<string, string> { Key = payment.User, Value = json });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
    }

    /// <summary>Runs the real ingest job until the stored checkpoints cover the whole topic, then stops it.</summary>
    public async Task IngestAllAsync(string bootstrap, IDatabase db, CancellationToken cancellationToken)
    {
        using var metrics = new IngestMetrics();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var job = IngestJobFactory.Create(Compiled, new IngestOptions
        {
            BootstrapServers = bootstrap,
            GroupId = "ingest",
            MaxBatchDelay = TimeSpan.FromMilliseconds(50),
            SessionTimeout = TimeSpan.FromSeconds(6),
        }, db, KeyPrefix, metrics, NullLogger.Instance);
        var run = Task.Run(() => job.RunAsync(cts.Token), cancellationToken);

        using var admin = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "probe" }).Build();
        var highs = Enumerable.Range(0, 4).Select(p => admin.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).High.Value).ToArray();
        var keys = new OnlineKeys(KeyPrefix, Project);
        await Eventually.TrueAsync(async () =>
        {
            if (run.IsCompleted)
            {
                await run; // surfaces why the job stopped early
                throw new InvalidOperationException("the ingest job stopped before catching up");
            }

            for (var p = 0; p < highs.Length; p++)
            {
                var stored = await db.HashGetAsync(keys.Checkpoints("ingest"), OnlineKeys.PartitionField(Topic, p));
                var text = stored.IsNull ? "0:" : stored.ToString();
                if (long.Parse(text.AsSpan(0, text.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture) < highs[p])
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(120), $"ingest reaches the end of {Topic}", cancellationToken);
        await cts.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>The entity key of a payment in a view (user views by user, the merchant view by merchant).</summary>
    public static string EntityOf(CompiledView view, Payment payment) => view.Definition.Entity == "user" ? payment.User : payment.Merchant;

    /// <summary>The §4 reference values of every feature of <paramref name="view"/> for <paramref name="entity"/> at <paramref name="t"/>.</summary>
    public Core.Windows.FeatureValue[] Reference(CompiledView view, string entity, long t)
    {
        var events = Events.Where(e => EntityOf(view, e) == entity)
            .Select(e => new TestEvent(e.Time, e.Index, [.. view.Definition.Features.Select(f => Input(f.Field, e))]))
            .ToList();
        return NaiveReference.Evaluate(events, view.Features, view.TtlMs, t);
    }

    private static FeatureInput Input(string? field, Payment e) => field switch
    {
        null => FeatureInput.Absent,
        "amount" => FeatureInput.OfNumber(e.Amount),
        "merchant_id" => FeatureInput.OfText(e.Merchant),
        "country" => FeatureInput.OfText(e.Country),
        "user_id" => FeatureInput.OfText(e.User),
        _ => throw new InvalidOperationException(field),
    };
}
