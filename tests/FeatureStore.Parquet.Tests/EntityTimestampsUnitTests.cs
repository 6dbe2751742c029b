using FeatureStore.Parquet.Export;
using FeatureStore.Parquet.Tables;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Tests;

/// <summary>The entity table's <c>event_timestamp</c>: epoch units told apart or declared, pandas' text form, Parquet timestamps of every unit.</summary>
public sealed class EntityTimestampsUnitTests : IDisposable
{
    // 2026-12-06T21:50:00Z
    private const long Instant = 1_796_593_800_000;

    private readonly string _dir = Directory.CreateTempSubdirectory("fs-times-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("1796593800")]
    [InlineData("1796593800000")]
    [InlineData("1796593800000000")]
    [InlineData("1796593800000000000")]
    [InlineData("2026-12-06T21:50:00Z")]
    [InlineData("2026-12-06 21:50:00")]
    [InlineData("2026-12-06 21:50:00.000000000")]
    [InlineData("2026-12-06 22:50:00+01:00")]
    public async Task Every_form_of_one_instant_reads_the_same_in_a_csv(string text)
    {
        var path = Path.Combine(_dir, "rows.csv");
        await File.WriteAllTextAsync(path, $"user_id,event_timestamp\nu1,{text}\n", Ct);
        var table = await TableReader.ReadAsync(path, Ct);
        Assert.Equal([Instant], EntityTimestamps.Read(table, path, TimestampUnit.Auto));
    }

    [Fact]
    public void Epoch_seconds_are_read_as_seconds_by_magnitude_or_when_declared()
    {
        Assert.True(EntityTimestamps.TryParse("1796593800", TimestampUnit.Auto, out var auto, out _));
        Assert.Equal(Instant, auto);
        Assert.True(EntityTimestamps.TryParse("1796593800", TimestampUnit.Seconds, out var seconds, out _));
        Assert.Equal(Instant, seconds);
        Assert.True(EntityTimestamps.TryParse("1796593800", TimestampUnit.Milliseconds, out var declared, out _));
        Assert.Equal(1_796_593_800, declared); // declared: taken as said
    }

    [Theory]
    [InlineData("12345")]
    [InlineData("99999999999")] // 5138 in seconds, 1973 in milliseconds: in no unit's span
    public void A_number_in_no_units_span_is_refused_with_the_option_to_declare_it(string text)
    {
        Assert.False(EntityTimestamps.TryParse(text, TimestampUnit.Auto, out _, out var problem));
        Assert.Contains("--timestamp-unit s|ms|us|ns", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rows_in_different_units_are_refused_naming_both()
    {
        var path = Path.Combine(_dir, "rows.csv");
        await File.WriteAllTextAsync(path, "user_id,event_timestamp\nu1,1796593800\nu2,1796593800000\n", Ct);
        var table = await TableReader.ReadAsync(path, Ct);
        var error = Assert.Throws<TableFileException>(() => EntityTimestamps.Read(table, path, TimestampUnit.Auto));
        Assert.Equal($"{path}: row 2, column event_timestamp: 1796593800000 reads as epoch milliseconds but row 1 as epoch seconds: declare the unit (--timestamp-unit s|ms|us|ns)", error.Message);
    }

    [Theory]
    [InlineData(DateTimeFormat.Impala, null)]
    [InlineData(DateTimeFormat.DateAndTime, null)]
    [InlineData(DateTimeFormat.DateAndTimeMicros, null)]
    [InlineData(DateTimeFormat.Timestamp, DateTimeTimeUnit.Millis)]
    [InlineData(DateTimeFormat.Timestamp, DateTimeTimeUnit.Micros)]
    [InlineData(DateTimeFormat.Timestamp, DateTimeTimeUnit.Nanos)]
    public async Task Parquet_timestamps_of_every_unit_read_as_their_instant(DateTimeFormat format, DateTimeTimeUnit? unit)
    {
        var path = Path.Combine(_dir, "rows.parquet");
        var user = new DataField<string>("user_id");
        var time = new DateTimeDataField("event_timestamp", format, isAdjustedToUTC: true, unit: unit, isNullable: true);
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(user, time), stream, cancellationToken: Ct);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(user, new ArraySegment<string?>(["u1"]));
            await group.WriteAsync<DateTime>(time, new DateTime?[] { DateTimeOffset.FromUnixTimeMilliseconds(Instant + 123).UtcDateTime }.AsMemory(), cancellationToken: Ct);
        }

        var table = await TableReader.ReadAsync(path, Ct);
        Assert.Equal([Instant + 123], EntityTimestamps.Read(table, path, TimestampUnit.Auto));
    }

    [Theory]
    [InlineData(TimestampUnit.Seconds, 1_796_593_800L)]
    [InlineData(TimestampUnit.Nanoseconds, 1_796_593_800_000_000_000L)]
    [InlineData(TimestampUnit.Auto, 1_796_593_800_000_000L)]
    public async Task Parquet_epoch_numbers_are_read_in_their_unit(TimestampUnit unit, long value)
    {
        var path = Path.Combine(_dir, "rows.parquet");
        var table = new Table([new TableColumn("user_id", new string?[] { "u1" }), new TableColumn("event_timestamp", new long?[] { value })], 1);
        await TableWriter.WriteAsync(table, path, ExportFormat.Parquet, Ct);
        var read = await TableReader.ReadAsync(path, Ct);
        Assert.Equal([Instant], EntityTimestamps.Read(read, path, unit));
    }
}
