using BenchmarkDotNet.Attributes;
using FeatureStore.Core.Definitions;
using FeatureStore.Core.Events;
using FeatureStore.Core.Windows;
using FeatureStore.Bench.Scenarios;

namespace FeatureStore.Bench.Micro;

/// <summary>
/// The engine's hot paths, one event or one entity state at a time, on the fraud example's user view
/// (eight features): parsing, adding an event to a state, encoding and decoding a state, evaluating it.
/// The memory diagnoser shows what each allocates.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(MicroConfig))]
public class WindowCoreBenchmarks
{
    private const int Events = 1_000;
    private byte[][] _payloads = [];
    private EventParser _parser = null!;
    private CompiledView _view = null!;
    private ViewWindowState _state = null!;
    private ViewWindowState _scratch = null!;
    private FeatureInput[] _inputs = [];
    private FeatureValue[] _values = [];
    private byte[] _encoded = [];
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new();
    private long _time;
    private long _sequence;

    [GlobalSetup]
    public void Setup()
    {
        var repository = CompiledRepository.Compile(FeatureRepositoryLoader.Load(FeatureStore.Testing.RepositoryPaths.FraudExample).Repository!);
        var source = repository.Sources[0];
        _payloads = RawKafkaScenario.SamplePayloads(Events, users: 1);
        _parser = new EventParser(source.Schema);
        _view = source.Views[0];
        _inputs = [.. _view.Features.Select((_, f) => FeatureInput.OfNumber(f + 1))];
        _values = new FeatureValue[_view.Features.Count];

        // A user with a day of history: one event a minute.
        _state = new ViewWindowState(_view.Features, _view.TtlMs);
        _time = 1_795_000_000_000;
        for (var i = 0; i < 24 * 60; i++)
        {
            _state.Add(_time += 60_000, _sequence++, _inputs);
        }

        _state.Compact(rawBefore: _time - (5 * 60_000) - _view.MaxHopMs, queriesFrom: _time - _view.TtlMs, maxRawEntries: 1024);
        _state.WriteTo(_buffer);
        _encoded = _buffer.WrittenSpan.ToArray();
        _scratch = new ViewWindowState(_view.Features, _view.TtlMs);
    }

    /// <summary>Parse one JSON event (typed fields, RFC 3339 time).</summary>
    [Benchmark(OperationsPerInvoke = Events)]
    public long Parse()
    {
        long sum = 0;
        foreach (var payload in _payloads)
        {
            _parser.Parse(payload);
            sum += _parser.EventTimeMs;
        }

        return sum;
    }

    /// <summary>Add one event to a hot entity's state (eight features, tiles and raw entry), in time order; compacted per 1 000 as ingest does per batch.</summary>
    [Benchmark(OperationsPerInvoke = Events)]
    public void AddEvent()
    {
        for (var i = 0; i < Events; i++)
        {
            _state.Add(_time += 50, _sequence++, _inputs);
        }

        _state.Compact(rawBefore: _time - (5 * 60_000) - _view.MaxHopMs, queriesFrom: _time - _view.TtlMs, maxRawEntries: 1024);
    }

    /// <summary>Encode a state with a day of history (1 024 raw entries: the ingest cap).</summary>
    [Benchmark]
    public int Encode()
    {
        _buffer.ResetWrittenCount();
        _state.WriteTo(_buffer);
        return _buffer.WrittenCount;
    }

    /// <summary>Decode it into a reused state (what ingest does per touched entity).</summary>
    [Benchmark]
    public int Decode()
    {
        _scratch.LoadFrom(_encoded);
        return _scratch.TileCount;
    }

    /// <summary>Evaluate all eight features at the state's newest instant.</summary>
    [Benchmark]
    public bool Evaluate() => _state.Evaluate(_time, _values);

    /// <summary>
    /// What a lookup does per entity and view, on the lookup scenario's shape (the payments repository's
    /// two user views, ten features with a stddev and an approx_distinct, 20 events in the last 3 h):
    /// decode the stored share, evaluate every feature now.
    /// </summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public int LookupDecodeEvaluate()
    {
        var n = 0;
        for (var v = 0; v < _lookupViews.Length; v++)
        {
            var state = ViewWindowState.ReadFrom(_lookupStates[v], _lookupViews[v].Features, _lookupViews[v].TtlMs);
            n += state.Evaluate(_lookupNow, _values) ? 1 : 0;
        }

        return n;
    }

    private CompiledView[] _lookupViews = [];
    private byte[][] _lookupStates = [];
    private long _lookupNow;

    [GlobalSetup(Target = nameof(LookupDecodeEvaluate))]
    public void SetupLookup()
    {
        Setup();
        var repository = CompiledRepository.Compile(FeatureRepositoryLoader.LoadFromText(FeatureStore.Testing.PaymentsRepository.Yaml("payments"), "bench.yaml").Repository!);
        _lookupViews = [.. repository.Views.Where(v => v.Definition.Entity == "user")];
        _lookupNow = 1_795_000_000_000;
        _values = new FeatureValue[16];
        var random = new Random(1);
        var events = LookupScenario.UserEvents(random, _lookupNow);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        _lookupStates = [.. _lookupViews.Select(view => LookupScenario.EncodedState(view, events, buffer))];
    }
}
