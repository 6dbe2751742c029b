using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FeatureStore.Cli.Tests;

/// <summary><c>baseline</c> and <c>drift</c> on CSV files against the example repository's fraud model.</summary>
public sealed class DriftCommandUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-drift-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, int rows, int seed, double scoreShift) => WritePredictions(_dir, name, rows, seed, scoreShift);

    /// <summary>A CSV of <paramref name="rows"/> predictions of the example's model (score shifted by <paramref name="scoreShift"/>) in <paramref name="directory"/>.</summary>
    internal static string WritePredictions(string directory, string name, int rows, int seed, double scoreShift)
    {
        var random = new Random(seed);
        var text = new StringBuilder("score,user_txn_stats__amount_mean_24h,merchant_txn_stats__txn_count_1h,label\n");
        for (var i = 0; i < rows; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{(random.NextDouble() * 0.5) + scoreShift},{Math.Exp(3 + random.NextDouble())},{random.Next(0, 12)},{i % 2}\n");
        }

        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    [Fact]
    public async Task A_one_shot_report_flags_the_shifted_column_only()
    {
        var training = Write("train.csv", 5000, seed: 1, scoreShift: 0);
        var current = Write("current.csv", 3000, seed: 2, scoreShift: 0.25);

        var (code, output, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", current, "--baseline-input", training);

        Assert.True(code == 0, error);
        using var report = JsonDocument.Parse(output);
        var columns = report.RootElement.GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("column").GetString()!, c => c.GetProperty("drifted").GetBoolean());
        Assert.True(columns["score"]);
        Assert.False(columns["user_txn_stats:amount_mean_24h"]);
        Assert.False(columns["merchant_txn_stats:txn_count_1h"]);
        Assert.Equal(1.0 / 3, report.RootElement.GetProperty("drifted_share").GetDouble(), 1e-12);
        Assert.False(report.RootElement.GetProperty("drifted").GetBoolean());
    }

    [Fact]
    public async Task The_same_distribution_does_not_drift()
    {
        var training = Write("train.csv", 5000, seed: 1, scoreShift: 0);
        var current = Write("current.csv", 3000, seed: 3, scoreShift: 0);

        var (code, output, _) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", current, "--baseline-input", training);

        Assert.Equal(0, code);
        using var report = JsonDocument.Parse(output);
        Assert.All(report.RootElement.GetProperty("columns").EnumerateArray(), c => Assert.False(c.GetProperty("drifted").GetBoolean(), c.ToString()));
    }

    [Fact]
    public async Task A_training_file_without_a_monitored_column_exits_2_naming_it()
    {
        var path = Path.Combine(_dir, "bad.csv");
        await File.WriteAllTextAsync(path, "score,label\n0.1,0\n", TestContext.Current.CancellationToken);

        var (code, _, error) = await CliRun.RunAsync("baseline", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", path);

        Assert.Equal(2, code);
        Assert.Contains("no column 'user_txn_stats__amount_mean_24h'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    public async Task A_window_below_min_samples_is_insufficient_data_and_not_drifted(int rows)
    {
        var training = Write("train.csv", 5000, seed: 1, scoreShift: 0);
        var current = Write("current.csv", rows, seed: 2, scoreShift: 0.25);

        var (code, output, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", current, "--baseline-input", training);

        Assert.True(code == 0, error);
        using var report = JsonDocument.Parse(output);
        Assert.All(report.RootElement.GetProperty("columns").EnumerateArray(), c =>
        {
            Assert.Equal("insufficient_data", c.GetProperty("verdict").GetString());
            Assert.Equal(100, c.GetProperty("min_samples").GetInt64());
            Assert.False(c.GetProperty("drifted").GetBoolean());
        });
        Assert.Equal(0, report.RootElement.GetProperty("drifted_share").GetDouble());
        Assert.False(report.RootElement.GetProperty("drifted").GetBoolean());
        Assert.Equal("insufficient_data", report.RootElement.GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task Nan_and_infinities_are_counted_and_reported_and_never_flip_a_column_to_categorical()
    {
        var clean = Write("clean.csv", 3000, seed: 1, scoreShift: 0);
        var lines = File.ReadAllLines(clean).ToList();
        lines.InsertRange(5, ["nan,inf,-inf,0", "inf,nan,3,1", "-inf,12.5,nan,0"]);
        var dirty = Path.Combine(_dir, "dirty.csv");
        File.WriteAllLines(dirty, lines);

        var (code, output, error) = await CliRun.RunAsync("baseline", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", dirty, "--redis", "embedded");
        Assert.True(code == 0, error);
        using (var stored = JsonDocument.Parse(output))
        {
            var score = stored.RootElement.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "score");
            Assert.Equal("numeric", score.GetProperty("kind").GetString());
            Assert.Equal(3000, score.GetProperty("count").GetInt64());
            Assert.Equal(1, score.GetProperty("non_finite").GetProperty("nan").GetInt64());
        }

        // A baseline with non-finite values against a clean file, and a clean baseline against that file.
        (code, output, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", clean, "--baseline-input", dirty);
        Assert.True(code == 0, error);
        (code, output, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", dirty, "--baseline-input", clean);
        Assert.True(code == 0, error);
        using var report = JsonDocument.Parse(output);
        var amount = report.RootElement.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("column").GetString() == "user_txn_stats:amount_mean_24h");
        Assert.Equal(3001, amount.GetProperty("count").GetInt64());
        Assert.Equal(1, amount.GetProperty("non_finite").GetProperty("nan").GetInt64());
        Assert.Equal(1, amount.GetProperty("non_finite").GetProperty("positive_infinity").GetInt64());
        Assert.Equal(0, amount.GetProperty("non_finite").GetProperty("negative_infinity").GetInt64());
        Assert.Equal(3000, amount.GetProperty("reference_size").GetInt64()); // the whole training column, not a sample
        Assert.False(amount.GetProperty("reference_sampled").GetBoolean());
    }

    [Fact]
    public async Task A_file_with_only_a_header_is_no_rows_and_exits_2()
    {
        var header = Path.Combine(_dir, "header.csv");
        await File.WriteAllTextAsync(header, "score,user_txn_stats__amount_mean_24h,merchant_txn_stats__txn_count_1h,label\n", TestContext.Current.CancellationToken);
        var training = Write("train.csv", 1000, seed: 1, scoreShift: 0);

        var (code, _, error) = await CliRun.RunAsync("baseline", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", header);
        Assert.Equal(2, code);
        Assert.Contains("no rows", error, StringComparison.Ordinal);

        (code, _, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "fraud_detector", "-v", "v1", "-i", header, "--baseline-input", training);
        Assert.Equal(2, code);
        Assert.Contains("no rows", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_learned_threshold_that_cannot_be_learned_is_said_by_baseline()
    {
        var repository = Path.Combine(_dir, "featurestore.yaml");
        var text = File.ReadAllText(CliRun.Example);
        Assert.Contains("{ method: wasserstein, threshold: 0.3 }", text, StringComparison.Ordinal);
        File.WriteAllText(repository, text.Replace("{ method: wasserstein, threshold: 0.3 }", "{ method: wasserstein, threshold: learned }", StringComparison.Ordinal));
        var training = Write("train.csv", 1500, seed: 1, scoreShift: 0); // one whole chunk of the 1 000 a time window learns from

        var (code, _, error) = await CliRun.RunAsync("baseline", "-f", repository, "-m", "fraud_detector", "-v", "v1", "-i", training, "--redis", "embedded");

        Assert.True(code == 0, error);
        Assert.Contains("user_txn_stats:amount_mean_24h: nothing learned for wasserstein", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("baseline")]
    [InlineData("drift")]
    [InlineData("monitor")]
    public async Task Help_describes_each_command(string command)
    {
        var (code, output, _) = await CliRun.RunAsync(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("--file", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_model_exits_2()
    {
        var (code, _, error) = await CliRun.RunAsync("drift", "-f", CliRun.Example, "-m", "nope", "-v", "v1", "-i", "x.csv");
        Assert.Equal(2, code);
        Assert.Contains("no model 'nope'", error, StringComparison.Ordinal);
    }
}
