using System.Buffers.Binary;
using System.Text;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;

namespace FeatureStore.Parquet.History;

/// <summary>
/// Receives an import's events of one view, sorted by entity key, time and position, to give every entity its
/// history's state in the online store (implemented beside the ingest job, which writes that store).
/// </summary>
public interface IHistoryOnlineSink
{
    /// <summary>Writes the states of <paramref name="view"/>'s entities from <paramref name="sorted"/> (see <see cref="HistoryInputs"/>).</summary>
    /// <returns>The entities written (those whose history still lies within the view's ttl).</returns>
    Task<long> WriteAsync(CompiledView view, IEnumerable<SpillRecord> sorted, string importId, long cutoverMs, CancellationToken cancellationToken);

    /// <summary>Records the hand-over of <paramref name="source"/> at <paramref name="cutoverMs"/>, where the ingest job reads it.</summary>
    Task RecordCutoverAsync(CompiledSource source, string importId, long cutoverMs, CancellationToken cancellationToken);
}

/// <summary>
/// One event's inputs to one view's features, as a spill record's payload: per feature a tag (0 absent,
/// 1 number, 2 text) and the value. Decoded into the <see cref="FeatureInput"/>s the export builds from the
/// event log (<see cref="FeatureInput.OfNumber"/>, <see cref="FeatureInput.OfText"/>).
/// </summary>
public static class HistoryInputs
{
    /// <summary>The inputs of <paramref name="view"/>'s features in the event <paramref name="parser"/> holds.</summary>
    public static byte[] Encode(CompiledView view, EventParser parser)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(parser);
        var size = 0;
        for (var f = 0; f < view.InputSlots.Count; f++)
        {
            var slot = view.InputSlots[f];
            size += slot < 0 || !parser.HasValue(slot) ? 1
                : parser.Schema.Fields[slot].Kind == FieldKind.String ? 5 + parser.GetUtf8(slot).Length : 9;
        }

        var bytes = new byte[size];
        var at = 0;
        for (var f = 0; f < view.InputSlots.Count; f++)
        {
            var slot = view.InputSlots[f];
            if (slot < 0 || !parser.HasValue(slot))
            {
                bytes[at++] = 0;
            }
            else if (parser.Schema.Fields[slot].Kind == FieldKind.String)
            {
                var text = parser.GetUtf8(slot);
                bytes[at++] = 2;
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), text.Length);
                text.CopyTo(bytes.AsSpan(at + 4));
                at += 4 + text.Length;
            }
            else
            {
                bytes[at++] = 1;
                BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(at), parser.GetDouble(slot));
                at += 8;
            }
        }

        return bytes;
    }

    /// <summary>Encodes one input per feature (as read back from the event log), in the form <see cref="Decode"/> reads.</summary>
    public static byte[] Encode(ReadOnlySpan<FeatureInput> inputs)
    {
        var size = 0;
        foreach (var input in inputs)
        {
            size += !input.Present ? 1 : input.Text is { } text ? 5 + Encoding.UTF8.GetByteCount(text) : 9;
        }

        var bytes = new byte[size];
        var at = 0;
        foreach (var input in inputs)
        {
            if (!input.Present)
            {
                bytes[at++] = 0;
            }
            else if (input.Text is { } text)
            {
                bytes[at++] = 2;
                var length = Encoding.UTF8.GetBytes(text, bytes.AsSpan(at + 4));
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), length);
                at += 4 + length;
            }
            else
            {
                bytes[at++] = 1;
                BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(at), input.Number);
                at += 8;
            }
        }

        return bytes;
    }

    /// <summary>Decodes <paramref name="payload"/> into <paramref name="into"/> (one input per feature).</summary>
    public static void Decode(ReadOnlySpan<byte> payload, Span<FeatureInput> into)
    {
        var at = 0;
        for (var f = 0; f < into.Length; f++)
        {
            switch (payload[at++])
            {
                case 0:
                    into[f] = FeatureInput.Absent;
                    break;
                case 1:
                    into[f] = FeatureInput.OfNumber(BinaryPrimitives.ReadDoubleLittleEndian(payload[at..]));
                    at += 8;
                    break;
                default:
                    var length = BinaryPrimitives.ReadInt32LittleEndian(payload[at..]);
                    into[f] = FeatureInput.OfText(Encoding.UTF8.GetString(payload.Slice(at + 4, length)));
                    at += 4 + length;
                    break;
            }
        }
    }
}
