using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Parquet.EventLog;

namespace FeatureStore.Parquet.Tests;

/// <summary>The event log's commit protocol: what a crash leaves behind is cleaned, a batch is claimed once.</summary>
public sealed class EventLogWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fs-log-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Recover_resumes_after_the_last_marker_and_removes_files_no_marker_names()
    {
        var scenario = new OfflineScenario("pay", count: 0, users: 1, seed: 0, nowMs: 0);
        var source = scenario.Compiled.Sources[0];
        var writer = new EventLogWriter(_dir, source);
        Assert.True(await writer.CommitAsync("pay", 2, 0, 10, 1_000, Rows(source.Schema, 0, 10), Ct));
        Assert.True(await writer.CommitAsync("pay", 2, 10, 25, 2_000, Rows(source.Schema, 10, 15), Ct));
        Assert.True(await writer.CommitAsync("pay", 1, 0, 5, 3_000, Rows(source.Schema, 0, 5), Ct));

        // A crash after the data file was renamed but before the marker, and one during the write.
        var folder = Path.Combine(_dir, "events", "payments");
        var dateFolder = Directory.GetDirectories(folder, "date=*").Single();
        var orphan = Path.Combine(dateFolder, "p0002-0000000000000000025-0000000000000000039-deadbeef.parquet");
        var partial = Path.Combine(dateFolder, ".tmp-p0002-0000000000000000025-0000000000000000039-cafebabe.parquet");
        File.WriteAllText(orphan, "half");
        File.WriteAllText(partial, "half");
        var otherPartition = Path.Combine(dateFolder, "p0001-0000000000000000005-0000000000000000009-deadbeef.parquet");
        File.WriteAllText(otherPartition, "belongs to partition 1's owner");

        var position = new EventLogWriter(_dir, source).Recover(2);

        Assert.Equal(new LogPosition(25, 2_000), position);
        Assert.False(File.Exists(orphan));
        Assert.False(File.Exists(partial));
        Assert.True(File.Exists(otherPartition), "recovering partition 2 leaves partition 1 alone");
        Assert.Equal(3, EventLogReader.CommittedFiles(_dir, "payments").Count);
        Assert.Equal(new LogPosition(0, long.MinValue), writer.Recover(3));
    }

    [Fact]
    public async Task A_second_commit_from_the_same_offset_is_refused_and_leaves_nothing()
    {
        var scenario = new OfflineScenario("pay", count: 0, users: 1, seed: 0, nowMs: 0);
        var source = scenario.Compiled.Sources[0];
        var a = new EventLogWriter(_dir, source);
        var b = new EventLogWriter(_dir, source);
        Assert.True(await a.CommitAsync("pay", 0, 100, 110, 0, Rows(source.Schema, 100, 10), Ct));

        Assert.False(await b.CommitAsync("pay", 0, 100, 130, 0, Rows(source.Schema, 100, 30), Ct));

        var files = Directory.GetFiles(Path.Combine(_dir, "events", "payments"), "*", SearchOption.AllDirectories);
        Assert.Equal(2, files.Length); // a's data file and marker
        Assert.Equal(110, a.Recover(0).NextOffset);
    }

    [Fact]
    public async Task Text_columns_are_dictionary_encoded_and_read_back_exactly_one_after_another()
    {
        var scenario = new OfflineScenario("pay", count: 0, users: 1, seed: 0, nowMs: 0);
        var source = scenario.Compiled.Sources[0];
        var parser = new EventParser(source.Schema);
        var buffer = new EventRowBuffer(source.Schema);
        for (var i = 0; i < 200; i++)
        {
            var country = i % 4 == 0 ? "" : $$""","country":"C{{i % 5}}" """;
            var json = $$"""{"user_id":"u{{i}}","merchant_id":"m{{i % 3}}","amount":{{i}}{{country}},"ts":{{1_800_000_000_000 + i}}}""";
            Assert.Equal(ParseError.None, parser.Parse(Encoding.UTF8.GetBytes(json)));
            buffer.Add(parser, i);
        }

        Assert.True(await new EventLogWriter(_dir, source).CommitAsync("pay", 0, 0, 200, 0, new Dictionary<long, EventRowBuffer> { [1_800_000_000_000 / 86_400_000] = buffer }, Ct));

        var file = Path.Combine(_dir, "events", "payments", EventLogReader.CommittedFiles(_dir, "payments").Single());
        await using var reader = await global::Parquet.ParquetReader.CreateAsync(file, cancellationToken: Ct);
        var chunks = reader.Metadata!.RowGroups[0].Columns.ToDictionary(c => c.MetaData!.PathInSchema[0], c => c.MetaData!.Encodings);
        foreach (var column in new[] { "merchant_id", "country", EventLogSchema.TopicColumn })
        {
            Assert.True(chunks[column].Any(e => e is global::Parquet.Meta.Encoding.PLAIN_DICTIONARY or global::Parquet.Meta.Encoding.RLE_DICTIONARY), $"{column}: {string.Join(", ", chunks[column])}");
        }

        using var group = reader.OpenRowGroupReader(0);
        var fields = reader.Schema.DataFields.ToDictionary(f => f.Name);
        var merchants = await FeatureStore.Parquet.Tables.ParquetColumns.ReadTextAsync(group, fields["merchant_id"], Ct);
        var countries = await FeatureStore.Parquet.Tables.ParquetColumns.ReadTextAsync(group, fields["country"], Ct);
        var topics = await FeatureStore.Parquet.Tables.ParquetColumns.ReadTextAsync(group, fields[EventLogSchema.TopicColumn], Ct);
        for (var i = 0; i < 200; i++)
        {
            Assert.Equal($"m{i % 3}", merchants![i]?.ToString()); // still intact after the other columns were read
            Assert.Equal(i % 4 == 0 ? null : $"C{i % 5}", countries![i]?.ToString());
            Assert.Equal("pay", topics![i]?.ToString());
        }
    }

    [Fact]
    public async Task Coverage_counts_rows_per_day_from_the_markers_and_footers_and_knows_whether_the_log_starts_at_the_first_event()
    {
        var scenario = new OfflineScenario("pay", count: 0, users: 1, seed: 0, nowMs: 0);
        var source = scenario.Compiled.Sources[0];
        var writer = new EventLogWriter(_dir, source);
        const long day = 1_800_000_000_000 / 86_400_000;
        Assert.True(await writer.CommitAsync("pay", 0, 0, 10, 0, Rows(source.Schema, 0, 10), Ct));
        var twoDays = new Dictionary<long, EventRowBuffer> { [day] = Rows(source.Schema, 10, 4)[day], [day + 1] = Rows(source.Schema, 14, 6)[day] };
        Assert.True(await writer.CommitAsync("pay", 0, 10, 20, 0, twoDays, Ct));
        Assert.True(await writer.CommitAsync("pay", 1, 0, 3, 0, Rows(source.Schema, 0, 3), Ct));

        var whole = await EventLogCoverageReader.ReadAsync(_dir, "payments", Ct);
        Assert.True(whole.FromFirstEvent);
        Assert.Equal(new Dictionary<long, long> { [day * 86_400_000] = 17, [(day + 1) * 86_400_000] = 6 }, whole.RowsByDay);

        Assert.True(await writer.CommitAsync("pay", 2, 40, 45, 0, Rows(source.Schema, 40, 5), Ct));
        var later = await EventLogCoverageReader.ReadAsync(_dir, "payments", Ct);
        Assert.False(later.FromFirstEvent, "partition 2's log starts at offset 40");
        Assert.Equal(28, later.Events);

        // An imported history is the source's past: with it, the log reaches back to the first event.
        Assert.True(await writer.CommitAsync("pay", CommitMarker.HistoryPartition, 0, 7, 0, Rows(source.Schema, 0, 7), Ct));
        var imported = await EventLogCoverageReader.ReadAsync(_dir, "payments", Ct);
        Assert.True(imported.FromFirstEvent);
        Assert.Equal(35, imported.Events);
        Assert.Equal(EventLogCoverage.Empty.RowsByDay, (await EventLogCoverageReader.ReadAsync(_dir, "nothing", Ct)).RowsByDay);
    }

    private static Dictionary<long, EventRowBuffer> Rows(EventSchema schema, long firstOffset, int count)
    {
        var parser = new EventParser(schema);
        var buffer = new EventRowBuffer(schema);
        for (var i = 0; i < count; i++)
        {
            var json = $$"""{"user_id":"u{{i}}","merchant_id":"m","amount":{{i}},"country":"FR","ts":{{1_800_000_000_000 + i}}}""";
            Assert.Equal(ParseError.None, parser.Parse(Encoding.UTF8.GetBytes(json)));
            buffer.Add(parser, firstOffset + i);
        }

        return new Dictionary<long, EventRowBuffer> { [1_800_000_000_000 / 86_400_000] = buffer };
    }
}
