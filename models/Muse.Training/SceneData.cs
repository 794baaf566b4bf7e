using System.Collections.Concurrent;
using Muse.Scenes;

namespace Muse.Training;

/// <summary>
/// Training and held-out scenes of Muse.Scenes, rendered on first use and kept in memory. Training index i
/// is <c>SceneSampler.Sample(seed, i)</c> for i below <see cref="TrainCount"/>; held-out index i is
/// <c>SceneSampler.SampleHeldOut(seed, i)</c>. Everything is a pure function of the seed.
/// </summary>
internal sealed class SceneData(ulong seed, int trainCount)
{
    private readonly ConcurrentDictionary<(bool HeldOut, long Index), SceneSample> _samples = new();
    private readonly ConcurrentDictionary<(bool HeldOut, long Index, int Size), byte[]> _images = new();

    /// <summary>Number of distinct training scenes cycled through.</summary>
    public int TrainCount { get; } = trainCount;

    /// <summary>Identity of the data set (Muse.Scenes' <see cref="Dataset.DatasetHash"/>).</summary>
    public static string DatasetHash => Dataset.DatasetHash;

    public SceneSample Train(long index) => _samples.GetOrAdd((false, index), k => SceneSampler.Sample(seed, k.Index));

    public SceneSample HeldOut(long index) => _samples.GetOrAdd((true, index), k => SceneSampler.SampleHeldOut(seed, k.Index));

    /// <summary>RGB bytes, row-major, of training scene <paramref name="index"/> at <paramref name="size"/> px.</summary>
    public byte[] TrainImage(long index, int size) =>
        _images.GetOrAdd((false, index, size), k => SceneRenderer.Render(Train(k.Index).Spec, k.Size));

    /// <summary>RGB bytes, row-major, of held-out scene <paramref name="index"/> at <paramref name="size"/> px.</summary>
    public byte[] HeldOutImage(long index, int size) =>
        _images.GetOrAdd((true, index, size), k => SceneRenderer.Render(HeldOut(k.Index).Spec, k.Size));

    /// <summary>Renders all training scenes at the given sizes up front, on all cores.</summary>
    public void Warm(params int[] sizes)
    {
        Parallel.For(0, TrainCount, i =>
        {
            foreach (var size in sizes)
            {
                TrainImage(i, size);
            }
        });
    }
}
