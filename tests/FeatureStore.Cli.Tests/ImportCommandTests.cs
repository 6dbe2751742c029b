using System.Text.Json;

namespace FeatureStore.Cli.Tests;

/// <summary><c>featurestore import</c>: history files parsed as ingest parses the topic, refused rows in a rejects file.</summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-import-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => Path.Combine(_dir, "offline");

    private static string Event(string user, string merchant, string time, string amount = "10.5") =>
        $$"""{"transaction_id":"t","user_id":"{{user}}","merchant_id":"{{merchant}}","amount":{{amount}},"currency":"EUR","country":"FR","card_present":true,"event_time":"{{time}}"}""";

    [Fact]
    public async Task Bad_rows_go_to_the_rejects_file_with_their_line_reason_and_field()
    {
        var input = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllLinesAsync(input,
        [
            Event("u1", "m1", "2026-11-01T10:00:00Z"),
            "{not json",
            Event("u2", "m1", "2026-10-01T10:00:00Z"),
            "",
            Event("u1", "m2", "2026-11-01T09:00:00Z", amount: "\"ten\""),
            Event("u1", "m2", "yesterday"),
            Event("u3", "m1", "2026-10-15T10:00:00Z"),
        ], TestContext.Current.CancellationToken);

        var (code, _, error) = await CliRun.RunAsync("import", "-f", CliRun.Example, "--store", Store, "--source", "transactions", "--input", input);

        Assert.Equal(1, code);
        Assert.Contains("3 events accepted, 3 rejected", error, StringComparison.Ordinal);
        Assert.Contains("user_txn_stats: 3 entities, 3 events", error, StringComparison.Ordinal);
        Assert.Contains("merchant_txn_stats: 1 entities, 3 events", error, StringComparison.Ordinal);
        var rejects = (await File.ReadAllLinesAsync(input + ".rejects.jsonl", TestContext.Current.CancellationToken))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Select(r => (r.GetProperty("line").GetInt64(), r.GetProperty("reason").GetString(), r.TryGetProperty("field", out var f) ? f.GetString() : null))
            .ToList();
        Assert.Equal([(2L, "malformed_json", null), (5L, "wrong_type", "amount"), (6L, "invalid_timestamp", "event_time")], rejects);
        Assert.Contains(input + ".rejects.jsonl", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unsorted_history_is_never_too_late_and_a_clean_file_exits_0_and_removes_old_rejects()
    {
        var input = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllTextAsync(input + ".rejects.jsonl", "stale\n", TestContext.Current.CancellationToken);
        await File.WriteAllLinesAsync(input,
        [
            Event("u1", "m1", "2026-11-03T10:00:00Z"),
            Event("u1", "m1", "2026-11-01T10:00:00Z"),
            Event("u2", "m2", "2026-10-01T10:00:00Z"),
        ], TestContext.Current.CancellationToken);

        var (code, _, error) = await CliRun.RunAsync("import", "-f", CliRun.Example, "--store", Store, "--input", input);

        Assert.True(code == 0, error);
        Assert.Contains("3 events accepted, 0 rejected", error, StringComparison.Ordinal);
        Assert.False(File.Exists(input + ".rejects.jsonl"));
    }

    [Fact]
    public async Task Csv_history_is_read_as_the_same_events_with_the_same_errors()
    {
        var input = Path.Combine(_dir, "history.csv");
        await File.WriteAllTextAsync(input,
            "event_time,user_id,merchant_id,amount,card_present,note\n"
            + "2026-11-01T10:00:00Z,u1,m1,10.5,true,\"a, b\"\n"
            + "2026-11-01T11:00:00Z,u2,m1,ten,false,x\n"
            + "2026-11-01T12:00:00Z,,m1,1,false,x\n"
            + "2026-11-01T12:00:00Z,u3,m2,1\n",
            TestContext.Current.CancellationToken);

        var (code, _, error) = await CliRun.RunAsync("import", "-f", CliRun.Example, "--store", Store, "--input", input);

        Assert.Equal(1, code);
        Assert.Contains("1 events accepted, 3 rejected", error, StringComparison.Ordinal);
        var reasons = (await File.ReadAllLinesAsync(input + ".rejects.jsonl", TestContext.Current.CancellationToken))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Select(r => $"{r.GetProperty("line").GetInt64()}:{r.GetProperty("reason").GetString()}")
            .ToList();
        Assert.Equal(["3:wrong_type", "4:missing_key", "5:malformed_row"], reasons);
    }

    [Fact]
    public async Task A_missing_input_or_an_unknown_source_is_a_usage_error()
    {
        var missing = Path.Combine(_dir, "nope.jsonl");
        var (code, _, error) = await CliRun.RunAsync("import", "-f", CliRun.Example, "--store", Store, "--input", missing);
        Assert.Equal(2, code);
        Assert.Contains($"--input: {missing}: no such file", error, StringComparison.Ordinal);

        var input = Path.Combine(_dir, "history.jsonl");
        await File.WriteAllTextAsync(input, Event("u1", "m1", "2026-11-01T10:00:00Z") + "\n", TestContext.Current.CancellationToken);
        (code, _, error) = await CliRun.RunAsync("import", "-f", CliRun.Example, "--store", Store, "--source", "payments", "--input", input);
        Assert.Equal(2, code);
        Assert.Contains("--source: unknown source 'payments' (sources: transactions)", error, StringComparison.Ordinal);
    }
}
