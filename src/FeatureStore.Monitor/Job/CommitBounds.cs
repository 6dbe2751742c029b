using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FeatureStore.Monitor.Job;

// How far the monitor may commit each partition. A prediction counts only once its window has been evaluated
// and persisted; until then it lives in memory alone, so the committed offset must stay at or below the first
// offset any open window holds from that partition, else a kill would drop it. Kept apart from the job so the
// rule is tested without a broker.

/// <summary>A topic partition as a value: the per-prediction bookkeeping allocates nothing.</summary>
internal readonly record struct PartitionKey(string Topic, int Partition)
{
    /// <summary>The hash field of the partition in a monitor's evaluated offsets: <c>TOPIC:PARTITION</c> (topic names have no colon).</summary>
    public string Field => $"{Topic}:{Partition}";

    /// <summary>The partition named by <paramref name="field"/>, or false when it is another field.</summary>
    public static bool TryParseField(string field, out PartitionKey partition)
    {
        var colon = field.LastIndexOf(':');
        if (colon > 0 && int.TryParse(field.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            partition = new PartitionKey(field[..colon], number);
            return true;
        }

        partition = default;
        return false;
    }
}

/// <summary>The first and last offset of one partition's predictions in one open window.</summary>
internal record struct HeldRange(long First, long Last);

/// <summary>The offsets one open window holds, per partition (a count window may span several).</summary>
internal sealed class WindowOffsets
{
    private readonly Dictionary<PartitionKey, HeldRange> _held = [];

    /// <summary>The partitions with predictions in the window, and the range of their offsets.</summary>
    public IReadOnlyDictionary<PartitionKey, HeldRange> Held => _held;

    /// <summary>Records that the window holds the prediction at <paramref name="offset"/>; offsets arrive in order per partition.</summary>
    public void Hold(PartitionKey partition, long offset)
    {
        ref var range = ref CollectionsMarshal.GetValueRefOrAddDefault(_held, partition, out var exists);
        if (!exists)
        {
            range.First = offset;
        }

        range.Last = offset;
    }

    /// <summary>The window closed (or was dropped): it holds nothing any more.</summary>
    public void Clear() => _held.Clear();
}

/// <summary>
/// The offsets read per partition by this member since its partitions were assigned, and from them, with the
/// open windows, the offset each partition may be committed to.
/// </summary>
internal sealed class CommitBounds
{
    private readonly Dictionary<PartitionKey, long> _read = [];

    /// <summary>
    /// Records a read; false when this member already read that offset since the assignment (a fetch resumed
    /// from an older position after a broker fault): the prediction is in its windows already.
    /// </summary>
    public bool Read(PartitionKey partition, long offset)
    {
        ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_read, partition, out var exists);
        if (exists && offset <= last)
        {
            return false;
        }

        last = offset;
        return true;
    }

    /// <summary>Per partition read since the assignment, the last offset read.</summary>
    public IReadOnlyDictionary<PartitionKey, long> LastRead => _read;

    /// <summary>The partitions went away with the windows that held their predictions: the next owner reads from the committed offsets.</summary>
    public void Forget() => _read.Clear();

    /// <summary>
    /// Fills <paramref name="bounds"/> with the offset to commit for each partition read: the first offset an
    /// open window still holds from it, or one past the last offset read when none does (an idle partition, or
    /// one whose predictions all went into evaluated windows or were skipped).
    /// </summary>
    public void Compute(IEnumerable<WindowOffsets> open, Dictionary<PartitionKey, long> bounds)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(bounds);
        bounds.Clear();
        foreach (var (partition, last) in _read)
        {
            bounds[partition] = last + 1;
        }

        foreach (var window in open)
        {
            foreach (var (partition, range) in window.Held)
            {
                ref var bound = ref CollectionsMarshal.GetValueRefOrNullRef(bounds, partition);
                if (!Unsafe.IsNullRef(ref bound) && range.First < bound)
                {
                    bound = range.First;
                }
            }
        }
    }
}
