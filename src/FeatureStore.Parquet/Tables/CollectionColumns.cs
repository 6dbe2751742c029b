using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Types;
using FeatureStore.Core.Windows;
using Parquet;
using Parquet.Schema;
using Array = System.Array;
using Field = Parquet.Schema.Field;

namespace FeatureStore.Parquet.Tables;

// The export's list and count columns (last_n and last_n_distinct: lists of texts, integers or numbers, newest first;
// top_k: value counts, most frequent first): Parquet LIST and MAP columns, Arrow List and Map arrays, and in
// CSV the JSON text of the value (an array, or an object of value to count). A null is an empty window.
internal static class CollectionColumns
{
    /// <summary>The Parquet field of a list or counts column, or null for a scalar column.</summary>
    public static Field? ParquetField(TableColumn column) => column.Values switch
    {
        IReadOnlyList<string>?[] => new ListField(column.Name, new DataField("element", typeof(string), isNullable: false)),
        IReadOnlyList<double>?[] => new ListField(column.Name, new DataField("element", typeof(double), isNullable: false)),
        IReadOnlyList<long>?[] => new ListField(column.Name, new DataField("element", typeof(long), isNullable: false)),
        IReadOnlyList<ValueCount>?[] => new MapField(column.Name, new DataField("key", typeof(string), isNullable: false), new DataField("value", typeof(long), isNullable: false)),
        _ => null,
    };

    /// <summary>Writes rows <paramref name="start"/> to <paramref name="start"/> + <paramref name="length"/> of a list or counts column.</summary>
    public static async Task WriteParquetAsync(ParquetRowGroupWriter group, Field field, Array values, int start, int length, CancellationToken cancellationToken)
    {
        switch (values)
        {
            case IReadOnlyList<string>?[] texts:
                {
                    var leaf = (DataField)((ListField)field).Item;
                    var (flat, definitions, repetitions) = Flatten(texts, start, length, leaf, list => list.Select(t => t.AsMemory()).ToList());
                    await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(leaf, flat, definitions, repetitions, cancellationToken).ConfigureAwait(false);
                    break;
                }

            case IReadOnlyList<double>?[] numbers:
                {
                    var leaf = (DataField)((ListField)field).Item;
                    var (flat, definitions, repetitions) = Flatten(numbers, start, length, leaf, list => list);
                    await group.WriteAllPartsAsync<double>(leaf, flat, definitions, repetitions, cancellationToken).ConfigureAwait(false);
                    break;
                }

            case IReadOnlyList<long>?[] integers:
                {
                    var leaf = (DataField)((ListField)field).Item;
                    var (flat, definitions, repetitions) = Flatten(integers, start, length, leaf, list => list);
                    await group.WriteAllPartsAsync<long>(leaf, flat, definitions, repetitions, cancellationToken).ConfigureAwait(false);
                    break;
                }

            case IReadOnlyList<ValueCount>?[] counts:
                {
                    var map = (MapField)field;
                    var key = (DataField)map.Key;
                    var value = (DataField)map.Value;
                    var (keys, definitions, repetitions) = Flatten(counts, start, length, key, list => list.Select(c => c.Value.AsMemory()).ToList());
                    var (numbers, _, _) = Flatten(counts, start, length, value, list => list.Select(c => c.Count).ToList());
                    await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(key, keys, definitions, repetitions, cancellationToken).ConfigureAwait(false);
                    await group.WriteAllPartsAsync<long>(value, numbers, definitions, repetitions, cancellationToken).ConfigureAwait(false);
                    break;
                }

            default:
                throw new InvalidOperationException($"unsupported column type {values.GetType().Name}");
        }
    }

    /// <summary>An Arrow List or Map array of a list or counts column, or null for a scalar column.</summary>
    public static IArrowArray? BuildArrow(Array values)
    {
        switch (values)
        {
            case IReadOnlyList<string>?[] texts:
                {
                    var builder = new ListArray.Builder(StringType.Default);
                    var items = (StringArray.Builder)builder.ValueBuilder;
                    foreach (var list in texts)
                    {
                        if (list is null)
                        {
                            builder.AppendNull();
                            continue;
                        }

                        builder.Append();
                        foreach (var text in list)
                        {
                            items.Append(text);
                        }
                    }

                    return builder.Build();
                }

            case IReadOnlyList<double>?[] numbers:
                {
                    var builder = new ListArray.Builder(DoubleType.Default);
                    var items = (DoubleArray.Builder)builder.ValueBuilder;
                    foreach (var list in numbers)
                    {
                        if (list is null)
                        {
                            builder.AppendNull();
                            continue;
                        }

                        builder.Append();
                        foreach (var number in list)
                        {
                            items.Append(number);
                        }
                    }

                    return builder.Build();
                }

            case IReadOnlyList<long>?[] integers:
                {
                    var builder = new ListArray.Builder(Int64Type.Default);
                    var items = (Int64Array.Builder)builder.ValueBuilder;
                    foreach (var list in integers)
                    {
                        if (list is null)
                        {
                            builder.AppendNull();
                            continue;
                        }

                        builder.Append();
                        foreach (var integer in list)
                        {
                            items.Append(integer);
                        }
                    }

                    return builder.Build();
                }

            case IReadOnlyList<ValueCount>?[] counts:
                {
                    var builder = new MapArray.Builder(new MapType(StringType.Default, Int64Type.Default, nullable: false));
                    var keys = (StringArray.Builder)builder.KeyBuilder;
                    var items = (Int64Array.Builder)builder.ValueBuilder;
                    foreach (var list in counts)
                    {
                        if (list is null)
                        {
                            builder.AppendNull();
                            continue;
                        }

                        builder.Append();
                        foreach (var (value, count) in list)
                        {
                            keys.Append(value);
                            items.Append(count);
                        }
                    }

                    return builder.Build();
                }

            default:
                return null;
        }
    }

    /// <summary>The JSON text of row <paramref name="row"/> of a list or counts column (null when the value is null or the column scalar).</summary>
    public static string? Json(Array values, int row) => values switch
    {
        IReadOnlyList<string>?[] texts => texts[row] is { } list ? JsonSerializer.Serialize(list) : null,
        IReadOnlyList<double>?[] numbers => numbers[row] is { } list ? JsonSerializer.Serialize(list) : null,
        IReadOnlyList<long>?[] integers => integers[row] is { } list ? JsonSerializer.Serialize(list) : null,
        IReadOnlyList<ValueCount>?[] counts => counts[row] is { } list ? JsonSerializer.Serialize(list.ToDictionary(c => c.Value, c => c.Count, StringComparer.Ordinal)) : null,
        _ => null,
    };

    // Dremel levels of an optional list of required items: a null list is definition 0, an empty one 1, an item
    // the leaf's maximum; the first item of a row repeats at 0, the others at the list's level.
    private static (T[] Flat, int[] Definitions, int[] Repetitions) Flatten<TItem, T>(IReadOnlyList<TItem>?[] rows, int start, int length, DataField leaf, Func<IReadOnlyList<TItem>, IReadOnlyList<T>> items)
    {
        var flat = new List<T>();
        var definitions = new List<int>();
        var repetitions = new List<int>();
        for (var r = start; r < start + length; r++)
        {
            if (rows[r] is not { } list)
            {
                definitions.Add(0);
                repetitions.Add(0);
                continue;
            }

            var values = items(list);
            if (values.Count == 0)
            {
                definitions.Add(leaf.MaxDefinitionLevel - 1);
                repetitions.Add(0);
                continue;
            }

            for (var i = 0; i < values.Count; i++)
            {
                flat.Add(values[i]);
                definitions.Add(leaf.MaxDefinitionLevel);
                repetitions.Add(i == 0 ? 0 : leaf.MaxRepetitionLevel);
            }
        }

        return ([.. flat], [.. definitions], [.. repetitions]);
    }
}
