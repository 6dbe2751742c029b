using Parquet;
using Parquet.Schema;

namespace FeatureStore.Parquet.Compaction;

// Copies rows of event-log files into one file, column by column, in row groups of a fixed size: the
// files are read one row group at a time, so memory stays near two row groups whatever the file sizes.
public sealed partial class EventLogCompactor
{
    private async Task<long> CopyAsync(
        IReadOnlyList<string> inputs, string output, Dictionary<string, string> metadata, Action<long> copied, CancellationToken cancellationToken)
    {
        long rows = 0;
        var stream = new FileStream(output, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        await using (stream.ConfigureAwait(false))
        {
            ParquetWriter? writer = null;
            try
            {
                ColumnBuffer[] columns = [];
                string? schema = null;
                var pending = 0;
                foreach (var input in inputs)
                {
                    var reader = await ParquetReader.CreateAsync(input, cancellationToken: cancellationToken).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        if (writer is null)
                        {
                            schema = SchemaKey(reader.Schema);
                            columns = [.. reader.Schema.DataFields.Select(ColumnBuffer.For)];
                            // Text dictionary-encoded, as the log writer writes it.
                            var options = new ParquetOptions();
                            foreach (var text in columns.OfType<Strings>())
                            {
                                options.ColumnEncodingHints[text.Output.Name] = EncodingHint.Dictionary;
                            }

                            writer = await ParquetWriter.CreateAsync(new ParquetSchema(columns.Select(c => c.Output)), stream, options, cancellationToken: cancellationToken).ConfigureAwait(false);
                            writer.CustomMetadata = metadata;
                        }
                        else if (SchemaKey(reader.Schema) != schema)
                        {
                            throw new InvalidDataException($"{input}: its columns differ from the other files of the run; not compacted");
                        }

                        for (var g = 0; g < reader.RowGroupCount; g++)
                        {
                            using var group = reader.OpenRowGroupReader(g);
                            var n = checked((int)group.RowCount);
                            foreach (var column in columns)
                            {
                                await column.ReadAsync(group, n, cancellationToken).ConfigureAwait(false);
                            }

                            pending += n;
                            rows += n;
                            while (pending >= _options.RowGroupRows)
                            {
                                await WriteGroupAsync(writer, columns, _options.RowGroupRows, cancellationToken).ConfigureAwait(false);
                                pending -= _options.RowGroupRows;
                            }

                            copied(rows);
                        }
                    }
                }

                if (writer is not null && pending > 0)
                {
                    await WriteGroupAsync(writer, columns, pending, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                if (writer is not null)
                {
                    await writer.DisposeAsync().ConfigureAwait(false);
                }
            }

            stream.Flush(flushToDisk: true);
        }

        return rows;
    }

    private static async Task WriteGroupAsync(ParquetWriter writer, ColumnBuffer[] columns, int rows, CancellationToken cancellationToken)
    {
        using var group = writer.CreateRowGroup();
        foreach (var column in columns)
        {
            await column.WriteAsync(group, rows, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Rows of one column read and not yet written.</summary>
    private abstract class ColumnBuffer(DataField field)
    {
        protected DataField Field { get; } = field;

        /// <summary>The column in the compacted file: the same, strings declared as the log writer declares them.</summary>
        public DataField Output { get; } = field.ClrType == typeof(ReadOnlyMemory<char>) ? new DataField(field.Name, typeof(string), field.IsNullable) : field;

        public static ColumnBuffer For(DataField field)
        {
            var type = field.ClrType;
            return type switch
            {
                _ when type == typeof(string) || type == typeof(ReadOnlyMemory<char>) => new Strings(field),
                _ when type == typeof(long) => Of<long>(field),
                _ when type == typeof(int) => Of<int>(field),
                _ when type == typeof(double) => Of<double>(field),
                _ when type == typeof(bool) => Of<bool>(field),
                _ when type == typeof(float) => Of<float>(field),
                _ => throw new InvalidDataException($"column '{field.Name}' has type {type.Name}, which the event log does not use"),
            };
        }

        public abstract Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken);

        /// <summary>Writes the first <paramref name="rows"/> rows held and forgets them.</summary>
        public abstract Task WriteAsync(ParquetRowGroupWriter group, int rows, CancellationToken cancellationToken);

        private static ColumnBuffer Of<T>(DataField field)
            where T : struct => field.IsNullable ? new Nullables<T>(field) : new Values<T>(field);
    }

    // Text as characters (each value its own; Parquet.Net dictionary-encodes this form, not strings).
    private sealed class Strings(DataField field) : ColumnBuffer(field)
    {
        private readonly List<ReadOnlyMemory<char>?> _values = [];

        public override async Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken)
        {
            if (Field.IsNullable)
            {
                var values = new ReadOnlyMemory<char>?[rows];
                await group.ReadAsync(Field, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
                _values.AddRange(values);
                return;
            }

            var plain = new ReadOnlyMemory<char>[rows];
            await group.ReadAsync(Field, plain.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            _values.AddRange(plain.Select(v => (ReadOnlyMemory<char>?)v));
        }

        public override async Task WriteAsync(ParquetRowGroupWriter group, int rows, CancellationToken cancellationToken)
        {
            if (Output.IsNullable)
            {
                await group.WriteAsync<ReadOnlyMemory<char>>(Output, _values.GetRange(0, rows).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await group.WriteAsync<ReadOnlyMemory<char>>(Output, _values.GetRange(0, rows).Select(v => v.GetValueOrDefault()).ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            _values.RemoveRange(0, rows);
        }
    }

    private sealed class Nullables<T>(DataField field) : ColumnBuffer(field)
        where T : struct
    {
        private readonly List<T?> _values = [];

        public override async Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken)
        {
            var values = new T?[rows];
            await group.ReadAsync(Field, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            _values.AddRange(values);
        }

        public override async Task WriteAsync(ParquetRowGroupWriter group, int rows, CancellationToken cancellationToken)
        {
            var values = _values.GetRange(0, rows).ToArray();
            await group.WriteAsync<T>(Output, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            _values.RemoveRange(0, rows);
        }
    }

    private sealed class Values<T>(DataField field) : ColumnBuffer(field)
        where T : struct
    {
        private readonly List<T> _values = [];

        public override async Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken)
        {
            var values = new T[rows];
            await group.ReadAsync(Field, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            _values.AddRange(values);
        }

        public override async Task WriteAsync(ParquetRowGroupWriter group, int rows, CancellationToken cancellationToken)
        {
            var values = _values.GetRange(0, rows).ToArray();
            await group.WriteAsync<T>(Output, values.AsMemory(), cancellationToken: cancellationToken).ConfigureAwait(false);
            _values.RemoveRange(0, rows);
        }
    }
}
