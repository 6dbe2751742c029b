using System.Globalization;
using System.Text;
using FeatureStore.Contracts.V1;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Parquet.EventLog;
using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using FeatureStore.Serving.Tests.Helpers;
using FeatureStore.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace FeatureStore.Serving.Tests;

/// <summary>Export jobs over gRPC: the command line's export, started and followed remotely, confined to the export folder.</summary>
[Trait("Category", "Integration")]
public sealed class ExportJobTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-export-jobs-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_export_job_writes_what_the_command_line_export_writes_and_reports_its_progress()
    {
        var (scenario, store, exports) = await PrepareAsync();
        await using var server = await StartAsync(scenario, store, exports);
        using var channel = GrpcChannel.ForAddress(server.Server.GrpcAddress);
        var jobs = new ExportJobs.ExportJobsClient(channel);

        var started = await jobs.StartExportAsync(new StartExportRequest
        {
            Entities = "rows.csv", Features = { "user_stats" }, Model = "fraud@v1", Output = "out/train.csv", Format = ExportFileFormat.Csv,
        }, cancellationToken: Ct);
        Assert.Equal(12, started.Id.Length);
        var done = await WaitAsync(jobs, started.Id);
        Assert.True(done.State == ExportJob.Types.State.Succeeded, done.Error);
        Assert.Equal(40, done.Rows);
        Assert.Equal(7, done.FeatureColumns); // user_stats' six, then fraud@v1's merchant_stats:sum_1h (its user_stats:n_1h is already in)
        Assert.True(done.EventsRead > 0);
        Assert.NotNull(done.FinishedAt);

        // The same export through the library the command line calls: the same bytes.
        var expected = Path.Combine(_dir, "expected.csv");
        await PointInTimeExport.RunAsync(scenario.Compiled, store, Path.Combine(exports, "rows.csv"),
            FeatureSelection.Parse(scenario.Compiled, ["user_stats", "user_stats:n_1h", "merchant_stats:sum_1h"]), expected, ExportFormat.Csv, null, Ct);
        Assert.Equal(await File.ReadAllTextAsync(expected, Ct), await File.ReadAllTextAsync(Path.Combine(exports, "out", "train.csv"), Ct));

        var listed = await jobs.ListExportsAsync(new ListExportsRequest(), cancellationToken: Ct);
        Assert.Equal(started.Id, Assert.Single(listed.Jobs).Id);
    }

    [Fact]
    public async Task An_export_job_reads_epoch_seconds_as_seconds_as_the_command_line_does()
    {
        var (scenario, store, exports) = await PrepareAsync();
        await using var server = await StartAsync(scenario, store, exports);
        using var channel = GrpcChannel.ForAddress(server.Server.GrpcAddress);
        var jobs = new ExportJobs.ExportJobsClient(channel);

        // The prepared rows at whole seconds: once as epoch seconds, once as the same instants in milliseconds.
        var lines = await File.ReadAllLinesAsync(Path.Combine(exports, "rows.csv"), Ct);
        string Rows(long scale) => string.Join('\n', lines.Select((line, i) =>
        {
            var cells = line.Split(',');
            if (i > 0)
            {
                cells[2] = (long.Parse(cells[2], CultureInfo.InvariantCulture) / 1000 * scale).ToString(CultureInfo.InvariantCulture);
            }

            return string.Join(',', cells);
        })) + "\n";
        await File.WriteAllTextAsync(Path.Combine(exports, "seconds.csv"), Rows(1), Ct);
        await File.WriteAllTextAsync(Path.Combine(exports, "millis.csv"), Rows(1000), Ct);

        var done = await WaitAsync(jobs, (await jobs.StartExportAsync(new StartExportRequest
        {
            Entities = "seconds.csv", Features = { "user_stats" }, Output = "out/seconds.csv", Format = ExportFileFormat.Csv,
        }, cancellationToken: Ct)).Id);
        Assert.True(done.State == ExportJob.Types.State.Succeeded, done.Error);

        var expected = Path.Combine(_dir, "millis-out.csv");
        await PointInTimeExport.RunAsync(scenario.Compiled, store, Path.Combine(exports, "millis.csv"),
            FeatureSelection.Parse(scenario.Compiled, ["user_stats"]), expected, ExportFormat.Csv, null, Ct);

        // The timestamp column passes through as given; every other cell is the same.
        static string[] WithoutTime(string[] rows) => [.. rows.Select(r => string.Join(',', r.Split(',').Where((_, c) => c != 2)))];
        var fromMillis = WithoutTime(await File.ReadAllLinesAsync(expected, Ct));
        Assert.Equal(fromMillis, WithoutTime(await File.ReadAllLinesAsync(Path.Combine(exports, "out", "seconds.csv"), Ct)));
        Assert.Contains(fromMillis.Skip(1), r => r.Split(',').Skip(4).Any(v => v.Length > 0 && v != "0")); // not all empty: the rows find events
    }

    [Fact]
    public async Task Bad_export_requests_get_precise_statuses_and_a_failed_job_says_why()
    {
        var (scenario, store, exports) = await PrepareAsync();
        await using var server = await StartAsync(scenario, store, exports);
        using var channel = GrpcChannel.ForAddress(server.Server.GrpcAddress);
        var jobs = new ExportJobs.ExportJobsClient(channel);
        StartExportRequest Request(string entities = "rows.csv", string output = "o.parquet", string feature = "user_stats:n_1h", string model = "") =>
            new() { Entities = entities, Output = output, Features = { feature }, Model = model };

        await AssertStatusAsync(StatusCode.InvalidArgument, "output: '../o.parquet' leaves the export folder", jobs.StartExportAsync(Request(output: "../o.parquet"), cancellationToken: Ct));
        await AssertStatusAsync(StatusCode.InvalidArgument, "entities: '/etc/passwd' is an absolute path", jobs.StartExportAsync(Request(entities: "/etc/passwd"), cancellationToken: Ct));
        await AssertStatusAsync(StatusCode.InvalidArgument, "entities: no file 'nope.csv' in the export folder", jobs.StartExportAsync(Request(entities: "nope.csv"), cancellationToken: Ct));
        await AssertStatusAsync(StatusCode.InvalidArgument, "view 'user_stats' has no feature 'nope'", jobs.StartExportAsync(Request(feature: "user_stats:nope"), cancellationToken: Ct));
        await AssertStatusAsync(StatusCode.InvalidArgument, "model 'fraud' has no version 'v9'", jobs.StartExportAsync(Request(model: "fraud@v9"), cancellationToken: Ct));
        await AssertStatusAsync(StatusCode.NotFound, "no export job 'missing'", jobs.GetExportAsync(new GetExportRequest { Id = "missing" }, cancellationToken: Ct));

        // Valid request, bad file: the job fails with the file's row and column, and leaves no output.
        await File.WriteAllTextAsync(Path.Combine(exports, "bad.csv"), "user_id,event_timestamp\nu1,yesterday\n", Ct);
        var failed = await WaitAsync(jobs, (await jobs.StartExportAsync(Request(entities: "bad.csv"), cancellationToken: Ct)).Id);
        Assert.Equal(ExportJob.Types.State.Failed, failed.State);
        Assert.Contains("row 1, column event_timestamp: 'yesterday' is not an RFC 3339 time", failed.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(exports, "o.parquet")));

        await using var bare = await StartAsync(scenario, null, null);
        using var bareChannel = GrpcChannel.ForAddress(bare.Server.GrpcAddress);
        await AssertStatusAsync(StatusCode.FailedPrecondition, "this server runs no exports",
            new ExportJobs.ExportJobsClient(bareChannel).StartExportAsync(Request(), cancellationToken: Ct));
    }

    private Task<RunningServer> StartAsync(PaymentsScenario scenario, string? store, string? exports) =>
        RunningServer.OnPortsAsync((grpc, http) => new FeatureServerOptions
        {
            Repository = scenario.Repository, KeyPrefix = scenario.KeyPrefix, GrpcPort = grpc, HttpPort = http, OfflineStore = store, ExportDirectory = exports,
        }, redis.Connection.Multiplexer);

    private static async Task AssertStatusAsync<T>(StatusCode status, string message, AsyncUnaryCall<T> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(status, error.StatusCode);
        Assert.Contains(message, error.Status.Detail, StringComparison.Ordinal);
    }

    private static async Task<ExportJob> WaitAsync(ExportJobs.ExportJobsClient jobs, string id)
    {
        ExportJob? job = null;
        await Eventually.TrueAsync(async () =>
        {
            job = await jobs.GetExportAsync(new GetExportRequest { Id = id }, cancellationToken: Ct);
            return job.State is not (ExportJob.Types.State.Queued or ExportJob.Types.State.Running);
        }, TimeSpan.FromSeconds(60), "export job finished", Ct);
        return job!;
    }

    /// <summary>Payments written straight to an event log, and an entity table of 40 rows in the export folder.</summary>
    private async Task<(PaymentsScenario Scenario, string Store, string Exports)> PrepareAsync()
    {
        var scenario = new PaymentsScenario("exports-" + Guid.NewGuid().ToString("N")[..6]);
        var store = Path.Combine(_dir, "store");
        var exports = Path.Combine(_dir, "exports");
        Directory.CreateDirectory(exports);
        var source = scenario.Compiled.Sources[0];
        var parser = new EventParser(source.Schema);
        var random = new Random(3);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var rows = new Dictionary<long, EventRowBuffer>();
        for (var i = 0; i < 500; i++)
        {
            var json = string.Create(CultureInfo.InvariantCulture,
                $$"""{"user_id":"u{{random.Next(10)}}","merchant_id":"m{{random.Next(5)}}","amount":{{Math.Round(random.NextDouble() * 500, 2)}},"country":"FR","ts":{{now - random.NextInt64(0, 3 * 3_600_000)}}}""");
            Assert.Equal(ParseError.None, parser.Parse(Encoding.UTF8.GetBytes(json)));
            var day = TileMath.FloorDiv(parser.EventTimeMs, 86_400_000);
            if (!rows.TryGetValue(day, out var buffer))
            {
                buffer = new EventRowBuffer(source.Schema);
                rows[day] = buffer;
            }

            buffer.Add(parser, i);
        }

        Assert.True(await new EventLogWriter(store, source).CommitAsync(scenario.Topic, 0, 0, 500, long.MinValue, rows, Ct));
        var table = new StringBuilder("user_id,merchant_id,event_timestamp,label\n");
        for (var r = 0; r < 40; r++)
        {
            table.Append(CultureInfo.InvariantCulture, $"u{random.Next(10)},m{random.Next(5)},{now - random.NextInt64(0, 3 * 3_600_000)},{r % 2}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(exports, "rows.csv"), table.ToString(), Ct);
        return (scenario, store, exports);
    }
}
