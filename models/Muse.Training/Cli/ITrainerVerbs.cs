using Muse.Training.Stages;

namespace Muse.Training.Cli;

/// <summary>
/// What each verb of the command line does once its options are parsed and bound. <see cref="TrainerVerbs"/> runs
/// them with TorchSharp; tests give <see cref="TrainerCommandLine"/> a recorder, so parsing is checked on hosts
/// without libtorch. Every method returns the process exit code.
/// </summary>
internal interface ITrainerVerbs
{
    /// <summary><c>train</c>: trains <paramref name="stage"/> (vqgan, text+base, sr or all); with smoke and all, exports and writes fixtures too.</summary>
    int Train(string stage, TrainOptions options);

    /// <summary><c>export-weights</c>: config, safetensors and provenance of <paramref name="stage"/>'s models.</summary>
    int ExportWeights(string stage, TrainOptions options);

    /// <summary><c>export</c>: <paramref name="stage"/> (or all) as ONNX + manifest into <paramref name="repository"/>, updating <paramref name="pipelines"/>.</summary>
    int Export(string stage, TrainOptions options, string repository, string pipelines);

    /// <summary><c>parity-fixtures</c>: the trained modules' outputs on fixed inputs, into <paramref name="fixtures"/>.</summary>
    int ParityFixtures(string stage, TrainOptions options, string fixtures);

    /// <summary><c>evaluate</c>: <paramref name="count"/> captions decoded with <paramref name="decoding"/> and scored by the scene checker.</summary>
    int Evaluate(TrainOptions options, EvaluationDecoding decoding, int count);

    /// <summary>
    /// <c>decode-parity</c>: <paramref name="count"/> captions decoded through ParallelDecoder by the trained modules and by
    /// their ONNX export in <paramref name="repository"/>, token by token compared.
    /// </summary>
    int DecodeParity(TrainOptions options, EvaluationDecoding decoding, int count, string repository);

    /// <summary>
    /// <c>import</c>: the stage folders (configs and weights-only checkpoints) of model version <c>options.Version</c>
    /// in <paramref name="repository"/>, or of the versions <paramref name="pipeline"/> serves (pipelines.json beside the
    /// repository), read back out of their ONNX graphs, into <c>options.Out</c>.
    /// </summary>
    int Import(TrainOptions options, string repository, string? pipeline);

    /// <summary><c>names</c>: the state_dict names and shapes of <paramref name="model"/> (vqgan, t5, base or sr).</summary>
    int Names(string model, bool smoke);
}
