using System.Globalization;
using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace FeatureStore.Host.Tests;

/// <summary>
/// Writes an offline event log as the log writer lays it out (data files named by commit markers), for
/// jobs that only read and rewrite it: <c>events/SOURCE/date=…/pPPPP-FIRST-LAST-NONCE.parquet</c> and
/// <c>events/SOURCE/_commits/pPPPP-FIRST.json</c>.
/// </summary>
internal static class EventLogFiles
{
    public static async Task WriteBatchesAsync(string store, string source, int partition, int batches, int rowsPerBatch, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(store, "events", source);
        var dateFolder = Path.Combine(folder, "date=2027-01-15");
        Directory.CreateDirectory(dateFolder);
        Directory.CreateDirectory(Path.Combine(folder, "_commits"));
        var schema = new ParquetSchema(
            new DataField("user_id", typeof(string), isNullable: true),
            new DataField<long>("_event_time_ms"),
            new DataField<string>("_topic", nullable: false),
            new DataField<int>("_partition"),
            new DataField<long>("_offset"));
        for (var b = 0; b < batches; b++)
        {
            var first = (long)b * rowsPerBatch;
            var name = string.Create(CultureInfo.InvariantCulture, $"p{partition:D4}-{first:D19}-{first + rowsPerBatch - 1:D19}-{b:D8}.parquet");
            await using (var stream = File.Create(Path.Combine(dateFolder, name)))
            {
                await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
                using var group = writer.CreateRowGroup();
                var offsets = Enumerable.Range(0, rowsPerBatch).Select(i => first + i).ToArray();
                await group.WriteAsync(schema.DataFields[0], offsets.Select(o => (string?)("u" + (o % 3).ToString(CultureInfo.InvariantCulture))).ToArray());
                await group.WriteAsync<long>(schema.DataFields[1], offsets.Select(o => 1_800_000_000_000 + o).ToArray(), cancellationToken: cancellationToken);
                await group.WriteAsync(schema.DataFields[2], Enumerable.Repeat("pay", rowsPerBatch).ToArray());
                await group.WriteAsync<int>(schema.DataFields[3], Enumerable.Repeat(partition, rowsPerBatch).ToArray(), cancellationToken: cancellationToken);
                await group.WriteAsync<long>(schema.DataFields[4], offsets, cancellationToken: cancellationToken);
            }

            var marker = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["partition"] = partition,
                ["first_offset"] = first,
                ["next_offset"] = first + rowsPerBatch,
                ["watermark_ms"] = 0,
                ["rows"] = rowsPerBatch,
                ["files"] = new[] { "date=2027-01-15/" + name },
            });
            await File.WriteAllTextAsync(Path.Combine(folder, "_commits", string.Create(CultureInfo.InvariantCulture, $"p{partition:D4}-{first:D19}.json")), marker, cancellationToken);
        }
    }
}
