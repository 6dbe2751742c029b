using System.Text;

namespace FeatureStore.Core.Windows.Internal;

/// <summary>
/// What a state reuses from one decoding to the next: the sketches of the tiles it dropped, and the text it
/// decoded last. A state loaded again and again (one per worker or per lookup, entity after entity) then
/// decodes its approx_distinct tiles and its texts without allocating once it is warm. Sketches are never
/// shared between aggregates (merging copies registers), so a dropped tile's sketch is free to refill.
/// </summary>
internal sealed class DecodeRecycler
{
    // A state keeps at most this many spare sketches (a view with a day of 5-minute tiles holds 288 per feature).
    private const int MaxSpareSketches = 1024;
    private const int MaxRememberedText = 64;

    private readonly Stack<HyperLogLog> _sketches = new();
    private readonly byte[] _textUtf8 = new byte[MaxRememberedText];
    private int _textLength = -1;
    private string? _text;

    /// <summary>Keeps the sketch of a dropped aggregate for the next decoding.</summary>
    public void Return(HyperLogLog? sketch)
    {
        if (sketch is not null && _sketches.Count < MaxSpareSketches)
        {
            _sketches.Push(sketch);
        }
    }

    /// <summary>A sketch to read registers over: a spare one, or a new one.</summary>
    public HyperLogLog Rent() => _sketches.TryPop(out var sketch) ? sketch : new HyperLogLog();

    /// <summary>The text of <paramref name="utf8"/>: the one decoded last when the bytes are the same (a view's `last` of a country, a currency).</summary>
    public string Text(ReadOnlySpan<byte> utf8)
    {
        if (_text is not null && utf8.Length == _textLength && utf8.SequenceEqual(_textUtf8.AsSpan(0, _textLength)))
        {
            return _text;
        }

        var text = Encoding.UTF8.GetString(utf8);
        if (utf8.Length <= MaxRememberedText)
        {
            utf8.CopyTo(_textUtf8);
            _textLength = utf8.Length;
            _text = text;
        }

        return text;
    }
}
