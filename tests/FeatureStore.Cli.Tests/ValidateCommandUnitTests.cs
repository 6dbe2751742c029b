namespace FeatureStore.Cli.Tests;

public sealed class ValidateCommandUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_example_is_valid()
    {
        var (code, output, error) = await CliRun.RunAsync("validate", "-f", CliRun.Example);
        Assert.Equal(0, code);
        Assert.Contains("valid: project fraud, 2 entities, 1 sources, 2 feature views, 13 features, 1 request views, 1 request-time features, 1 models, 1 webhooks", output, StringComparison.Ordinal);
        Assert.Empty(error);
    }

    [Fact]
    public async Task A_file_with_three_mistakes_exits_2_naming_all_three()
    {
        var text = (await File.ReadAllTextAsync(CliRun.Example, TestContext.Current.CancellationToken))
            .Replace("        aggregation: stddev", "        aggregation: stdev", StringComparison.Ordinal)
            .Replace("    ttl: 2d", "    ttl: 2 days", StringComparison.Ordinal)
            .Replace("        hop: 1m", "        hop: 7m", StringComparison.Ordinal);
        var path = Path.Combine(_dir, "featurestore.yaml");
        await File.WriteAllTextAsync(path, text, TestContext.Current.CancellationToken);

        var (code, output, error) = await CliRun.RunAsync("validate", "-f", path);

        Assert.Equal(2, code);
        Assert.Empty(output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Matches(@":\d+:\d+: error FS0106: hop 7m does not divide window 1h", lines[0]);
        Assert.Matches(@":\d+:\d+: error FS0103: unknown aggregation 'stdev' \(hint: did you mean 'stddev'\?\)", lines[1]);
        Assert.Matches(@":\d+:\d+: error FS0010: '2 days' is not a duration for ttl \(hint: write 2d\)", lines[2]);
        Assert.EndsWith("3 errors; nothing applied.", lines[3], StringComparison.Ordinal);
        var expectedLines = text.Split('\n').Select((l, i) => (l, i + 1)).Where(x => x.l.Contains("hop: 7m", StringComparison.Ordinal)).Single().Item2;
        Assert.Contains($":{expectedLines}:14:", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_file_exits_2_naming_it()
    {
        var path = Path.Combine(_dir, "nope.yaml");
        var (code, _, error) = await CliRun.RunAsync("validate", "-f", path);
        Assert.Equal(2, code);
        Assert.Contains($"{path}: no such file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_given_as_the_repository_is_named_as_one_with_the_file_expected()
    {
        var (code, _, error) = await CliRun.RunAsync("validate", "-f", _dir);
        Assert.Equal(2, code);
        Assert.Contains($"{_dir}: is a directory", error, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_dir, "featurestore.yaml"), error, StringComparison.Ordinal);
        Assert.DoesNotContain("denied", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_refuses_a_missing_or_directory_repository_before_starting()
    {
        var config = Path.Combine(_dir, "host.yaml");
        await File.WriteAllTextAsync(config, $"repository: {_dir}\n", TestContext.Current.CancellationToken);
        var (code, _, error) = await CliRun.RunAsync("run", "-c", config);
        Assert.Equal(2, code);
        Assert.Contains($"{_dir}: is a directory", error, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", error, StringComparison.Ordinal);

        await File.WriteAllTextAsync(config, "repository: nope.yaml\n", TestContext.Current.CancellationToken);
        (code, _, error) = await CliRun.RunAsync("run", "-c", config);
        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(_dir, "nope.yaml")}: no such file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unclosed_bracket_is_reported_at_its_line()
    {
        var lines = (await File.ReadAllLinesAsync(CliRun.Example, TestContext.Current.CancellationToken)).ToList();
        var at = lines.FindIndex(l => l.Contains("join_keys: [merchant_id]", StringComparison.Ordinal));
        lines[at] = lines[at].Replace("[merchant_id]", "[merchant_id", StringComparison.Ordinal);
        var path = Path.Combine(_dir, "featurestore.yaml");
        await File.WriteAllLinesAsync(path, lines, TestContext.Current.CancellationToken);

        var (code, _, error) = await CliRun.RunAsync("validate", "-f", path);

        Assert.Equal(2, code);
        var line = error.Split('\n')[0];
        Assert.Contains("FS0001", line, StringComparison.Ordinal);
        Assert.DoesNotContain(":1:1:", line, StringComparison.Ordinal);
        var reported = int.Parse(System.Text.RegularExpressions.Regex.Match(line, @"\.yaml:(\d+):\d+:").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(reported, at + 1, at + 2);
    }

    [Fact]
    public async Task Usage_errors_exit_2()
    {
        Assert.Equal(2, (await CliRun.RunAsync("validate")).Code);
        Assert.Equal(2, (await CliRun.RunAsync("no-such-command")).Code);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("validate", "--help")]
    [InlineData("apply", "--help")]
    [InlineData("kafka-embedded", "--help")]
    public async Task Help_is_available_on_every_command(params string[] args)
    {
        var (code, output, _) = await CliRun.RunAsync(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
    }
}
