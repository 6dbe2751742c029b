namespace FeatureStore.Parquet.History;

/// <summary>One record of a <see cref="SpillSorter"/>: an entity key (UTF-8), a time, a position, an opaque payload.</summary>
/// <param name="Key">The entity key's bytes, ordered as bytes (ordinal).</param>
/// <param name="Time">The event time.</param>
/// <param name="Position">The event's position in the history (orders equal times).</param>
/// <param name="Payload">The event's inputs, encoded by the caller.</param>
public readonly record struct SpillRecord(byte[] Key, long Time, long Position, byte[] Payload);

/// <summary>
/// An external sort by (key, time, position) with bounded memory: records are held until
/// <c>maxRecordsInMemory</c>, then sorted and written to a run file in a temporary folder of its own;
/// <see cref="Merge"/> merges the runs (and what is still in memory) with a k-way heap, so one entity's records
/// come together, in time order. Dispose removes the runs.
/// </summary>
public sealed class SpillSorter : IDisposable
{
    private readonly string _folder;
    private readonly int _maxRecordsInMemory;
    private readonly List<SpillRecord> _memory = [];
    private readonly List<string> _runs = [];
    private bool _merged;

    /// <summary>A sorter spilling to a new folder under <paramref name="tempRoot"/> every <paramref name="maxRecordsInMemory"/> records.</summary>
    public SpillSorter(string tempRoot, int maxRecordsInMemory)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecordsInMemory, 1);
        _folder = Path.Combine(tempRoot, "fs-spill-" + Guid.NewGuid().ToString("N")[..12]);
        _maxRecordsInMemory = maxRecordsInMemory;
    }

    /// <summary>Records added.</summary>
    public long Count { get; private set; }

    /// <summary>Run files written so far.</summary>
    public int Runs => _runs.Count;

    /// <summary>The order: key bytes, then time, then position.</summary>
    public static int Compare(in SpillRecord a, in SpillRecord b)
    {
        var byKey = a.Key.AsSpan().SequenceCompareTo(b.Key);
        return byKey != 0 ? byKey : a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Position.CompareTo(b.Position);
    }

    /// <summary>Adds a record (its arrays are kept, not copied).</summary>
    public void Add(SpillRecord record)
    {
        if (_merged)
        {
            throw new InvalidOperationException("the records were merged already");
        }

        _memory.Add(record);
        Count++;
        if (_memory.Count >= _maxRecordsInMemory)
        {
            Spill();
        }
    }

    /// <summary>Every record in order; call once, after the last <see cref="Add"/>.</summary>
    public IEnumerable<SpillRecord> Merge()
    {
        _merged = true;
        _memory.Sort((a, b) => Compare(a, b));
        if (_runs.Count == 0)
        {
            foreach (var record in _memory)
            {
                yield return record;
            }

            yield break;
        }

        var readers = _runs.Select(path => new BinaryReader(new BufferedStream(File.OpenRead(path), 1 << 16))).ToList();
        try
        {
            var heap = new PriorityQueue<int, SpillRecord>(Comparer<SpillRecord>.Create((a, b) => Compare(a, b)));
            var memoryAt = 0;
            for (var r = 0; r < readers.Count; r++)
            {
                if (Read(readers[r]) is { } first)
                {
                    heap.Enqueue(r, first);
                }
            }

            // The records still in memory are one more sorted run, read by index (source -1).
            if (_memory.Count > 0)
            {
                heap.Enqueue(-1, _memory[memoryAt++]);
            }

            while (heap.TryDequeue(out var source, out var record))
            {
                yield return record;
                if (source < 0)
                {
                    if (memoryAt < _memory.Count)
                    {
                        heap.Enqueue(-1, _memory[memoryAt++]);
                    }
                }
                else if (Read(readers[source]) is { } following)
                {
                    heap.Enqueue(source, following);
                }
            }

        }
        finally
        {
            foreach (var reader in readers)
            {
                reader.Dispose();
            }
        }
    }

    /// <summary>Removes the run files.</summary>
    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private void Spill()
    {
        _memory.Sort((a, b) => Compare(a, b));
        Directory.CreateDirectory(_folder);
        var path = Path.Combine(_folder, $"run-{_runs.Count:D6}.bin");
        using (var writer = new BinaryWriter(new BufferedStream(new FileStream(path, FileMode.CreateNew, FileAccess.Write), 1 << 16)))
        {
            foreach (var record in _memory)
            {
                writer.Write7BitEncodedInt(record.Key.Length);
                writer.Write(record.Key);
                writer.Write(record.Time);
                writer.Write(record.Position);
                writer.Write7BitEncodedInt(record.Payload.Length);
                writer.Write(record.Payload);
            }
        }

        _runs.Add(path);
        _memory.Clear();
    }

    private static SpillRecord? Read(BinaryReader reader)
    {
        if (reader.BaseStream.Position == reader.BaseStream.Length)
        {
            return null;
        }

        var key = reader.ReadBytes(reader.Read7BitEncodedInt());
        var time = reader.ReadInt64();
        var position = reader.ReadInt64();
        var payload = reader.ReadBytes(reader.Read7BitEncodedInt());
        return new SpillRecord(key, time, position, payload);
    }
}
