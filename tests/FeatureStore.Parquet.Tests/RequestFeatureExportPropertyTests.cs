using System.Globalization;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Expressions;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FsCheck;
using FsCheck.Fluent;

namespace FeatureStore.Parquet.Tests;

/// <summary>
/// Request-time features in the export equal what the online lookup computes for the same row: on random event
/// streams and random request contexts (nulls, text and epoch timestamps), each exported value equals the
/// request view evaluated, as the lookup evaluates it, over the §4 values (with their statuses) of the stored
/// features it reads at the row's instant and the row's context.
/// </summary>
public sealed class RequestFeatureExportPropertyTests : IDisposable
{
    private const string RequestViews = """

        request_views:
          - name: payment
            context:
              amount: double
              country: string
              placed_at: timestamp
            features:
              - { name: vs_mean_pct, type: double, expression: 'round(payment.vs_mean * 100)' }
              - { name: vs_mean, type: double, expression: amount / user_stats.mean_2h }
              - { name: new_country, type: int, expression: 'user_stats.last_country != country ? 1 : 0' }
              - { name: share, type: double, expression: 'coalesce(amount, 0) / (coalesce(merchant_stats.sum_1h, 0) + 1)' }
              - { name: age_h, type: int, expression: '(epoch_ms(placed_at) - user_stats.n_all) / 3600000' }
              - { name: label, type: string, expression: 'user_stats.n_1h > 3 ? "busy" : coalesce(country, "?")' }
          - name: risk
            context:
              channel: string
            features:
              - { name: score, type: double, expression: 'payment.new_country * 10 + coalesce(payment.vs_mean_pct, -1) + (channel == "web" ? 5 : 0)' }
              - { name: tag, type: string, expression: 'payment.label + "/" + coalesce(channel, "-") + (risk.band > 1 ? "/hi" : "/lo")' }
              - { name: band, type: int, expression: 'coalesce(merchant_stats.n_1h, 0) > 5 ? 2 : 1' }
        """;

    private readonly string _root = Directory.CreateTempSubdirectory("fs-request-export-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Exported_request_time_features_equal_the_online_evaluation_on_random_streams_and_contexts() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(12), Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed => Scenario(seed).GetAwaiter().GetResult()));

    private async Task<bool> Scenario(int seed)
    {
        var dir = Path.Combine(_root, seed.ToString(CultureInfo.InvariantCulture));
        var scenario = new OfflineScenario("pay", count: 600 + (seed % 400), users: 8 + (seed % 20), seed: seed, nowMs: 1_765_000_000_000);
        await scenario.WriteLogAsync(dir, CancellationToken.None);
        var load = FeatureRepositoryLoader.LoadFromText(scenario.RepositoryYaml + RequestViews, "offline.yaml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var compiled = CompiledRepository.Compile(load.Repository!);
        string[] requestViews = ["payment", "risk"];

        var random = new Random(seed);
        var entities = scenario.EntityTable(rows: 150, seed: seed + 1);
        var amounts = new double?[entities.RowCount];
        var countries = new string?[entities.RowCount];
        var epochs = new long?[entities.RowCount];
        var channels = new string?[entities.RowCount];
        for (var r = 0; r < entities.RowCount; r++)
        {
            amounts[r] = random.Next(6) == 0 ? null : Math.Round((random.NextDouble() - 0.1) * 800, 2);
            countries[r] = random.Next(6) == 0 ? null : new[] { "FR", "DE", "IT", "PT" }[random.Next(4)];
            epochs[r] = random.Next(8) == 0 ? null : 1_764_000_000_000 + random.NextInt64(0, 3_000_000_000);
            channels[r] = random.Next(5) == 0 ? null : new[] { "web", "app" }[random.Next(2)];
        }

        // Timestamps as epoch milliseconds in some tables and as RFC 3339 text in others.
        Array placed = seed % 2 == 0 ? epochs
            : epochs.Select(e => e is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) : null).ToArray();
        var table = new Table([.. entities.Columns, new TableColumn("amount", amounts), new TableColumn("country", countries), new TableColumn("placed_at", placed), new TableColumn("channel", channels)], entities.RowCount);
        var (stored, requests) = RequestSelection.Parse(compiled, ["payment", "risk", "user_stats:n_1h"]);
        var (result, _, _) = await PointInTimeExport.ComputeAsync(dir, table, "entities", stored, null, CancellationToken.None, requests: requests);

        var users = (string?[])table.Find("user_id")!.Values;
        var merchants = (string?[])table.Find("merchant_id")!.Values;
        var times = (long?[])table.Find("event_timestamp")!.Values;
        var present = 0;
        foreach (var view in requestViews.Select(compiled.FindRequestView))
        {
            var online = new FeatureValue[view!.Definition.Features.Count];
            for (var r = 0; r < table.RowCount; r++)
            {
                var reads = view.Dependencies.Select(d => compiled.FindView(d.View)!).Zip(view.Dependencies, (v, d) =>
                    scenario.ExpectedValue(scenario.Compiled.FindView(v.Name)!, v.IndexOf(d.Feature), v.Name == "user_stats" ? users[r]! : merchants[r]!, times[r]!.Value)).ToArray();
                // The context in the order the view takes it: its own fields, then those of the views it reads.
                var context = view.Context.Select(field => field.Name switch
                {
                    "amount" => amounts[r] is { } a ? ContextValue.Of(a) : ContextValue.Null,
                    "country" => countries[r] is { } c ? ContextValue.Of(c) : ContextValue.Null,
                    "channel" => channels[r] is { } c ? ContextValue.Of(c) : ContextValue.Null,
                    _ => epochs[r] is { } p ? ContextValue.Instant(p) : ContextValue.Null,
                }).ToArray();
                view.Evaluate(reads, context, online);
                for (var f = 0; f < online.Length; f++)
                {
                    var name = view.Name + "__" + view.Definition.Features[f].Name;
                    var exported = result.Find(name)!.Values.GetValue(r);
                    present += exported is null ? 0 : 1;
                    Assert.True(OfflineScenario.Same(online[f].Boxed, exported), $"seed {seed}, row {r + 1}, {name}: online {online[f]}, export {exported ?? "null"}");
                }
            }
        }

        // A feature read by another is read at its value: checked against the exported columns themselves.
        var vsMean = (double?[])result.Find("payment__vs_mean")!.Values;
        var pct = (double?[])result.Find("payment__vs_mean_pct")!.Values;
        var score = (double?[])result.Find("risk__score")!.Values;
        var newCountry = (long?[])result.Find("payment__new_country")!.Values;
        for (var r = 0; r < table.RowCount; r++)
        {
            Assert.Equal(vsMean[r] is { } v ? Math.Round(v * 100, MidpointRounding.AwayFromZero) : null, pct[r]);
            var expected = newCountry[r] is { } n ? (n * 10) + (pct[r] ?? -1) + (channels[r] == "web" ? 5 : 0) : (double?)null;
            Assert.Equal(expected, score[r]);
        }

        Assert.True(present > table.RowCount, $"seed {seed}: only {present} values present");
        Assert.Equal(["channel", "amount", "country", "placed_at"], compiled.FindRequestView("risk")!.Context.Select(c => c.Name));

        // The stored features read but not asked for are not written.
        Assert.Equal(["user_stats__n_1h", .. requestViews.SelectMany(v => compiled.FindRequestView(v)!.Definition.Features.Select(f => v + "__" + f.Name))],
            result.Columns.Select(c => c.Name).Where(n => n.Contains("__", StringComparison.Ordinal)));
        return true;
    }
}
