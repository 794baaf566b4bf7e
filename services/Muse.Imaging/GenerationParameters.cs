using System.Text.Json;
using System.Text.Json.Serialization;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;

namespace Muse.Imaging;

/// <summary>
/// Everything that determines one image, as stored inside it (PNG tEXt chunk <see cref="PngKeyword"/>, JPEG/WebP
/// EXIF ImageDescription): the prompts, the image's own seed, the resolved decoding settings, the pipeline and the
/// exact model versions. Sent back as a 1-image request pinned to those versions, it regenerates the same bytes.
/// </summary>
/// <remarks>
/// Holds no request id, batch index or time, so that image k of a batch and a 1-image request with its seed carry
/// the same metadata (and so the same bytes).
/// </remarks>
public sealed record GenerationParameters
{
    /// <summary>Keyword of the PNG text chunk holding the JSON.</summary>
    public const string PngKeyword = "muse:parameters";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // The default encoder escapes every non-ASCII character, so the JSON fits a Latin-1 tEXt chunk.
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>The prompt.</summary>
    public required string Prompt { get; init; }

    /// <summary>The negative prompt; empty = none.</summary>
    public string NegativePrompt { get; init; } = "";

    /// <summary>The image's own seed (for image k of a batch: ImageSeed(request seed, k)).</summary>
    public required ulong Seed { get; init; }

    /// <summary>Base decoding steps.</summary>
    public required int BaseSteps { get; init; }

    /// <summary>Super-resolution decoding steps.</summary>
    public required int SrSteps { get; init; }

    /// <summary>Classifier-free guidance scale.</summary>
    public required float GuidanceScale { get; init; }

    /// <summary>"constant" or "linear".</summary>
    public required string GuidanceSchedule { get; init; }

    /// <summary>Sampling temperature of the base model.</summary>
    public required float SamplingTemperature { get; init; }

    /// <summary>Sampling temperature of the super-resolution model; null in images written before it had its own.</summary>
    public float? SrSamplingTemperature { get; init; }

    /// <summary>Gumbel temperature of confidence re-masking.</summary>
    public required float ChoiceTemperature { get; init; }

    /// <summary>
    /// Whether committed tokens competed again in the base stage. Written only when true, so images decoded without
    /// it (and every image written before it existed) keep their bytes.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Recompete { get; init; }

    /// <summary>Whether committed tokens competed again in the super-resolution stage; written only when true.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SrRecompete { get; init; }

    /// <summary>The pipeline that ran.</summary>
    public required string Pipeline { get; init; }

    /// <summary>Model of every stage, "stage" → "name/version", in pipeline order.</summary>
    public required IReadOnlyList<ModelVersion> Models { get; init; }

    /// <summary>The parameters as compact JSON (ASCII only, fixed property order).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses <see cref="ToJson"/>'s output.</summary>
    /// <exception cref="InvalidDataException">The text is not such JSON.</exception>
    public static GenerationParameters FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<GenerationParameters>(json, Json) ?? throw new InvalidDataException("The parameters are null.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"The image's Muse parameters are not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Reads the parameters an image written by Muse carries (PNG text chunk, or JPEG/WebP EXIF).</summary>
    /// <exception cref="InvalidDataException">The file is not an image, or carries no Muse parameters.</exception>
    public static GenerationParameters Read(byte[] image)
    {
        IImageInfo? info;
        try
        {
            info = Image.Identify(image);
        }
        catch (Exception ex) when (ex is UnknownImageFormatException or InvalidImageContentException)
        {
            throw new InvalidDataException($"Not a readable image: {ex.Message}", ex);
        }

        if (info is null)
        {
            throw new InvalidDataException("Not a PNG, JPEG or WebP image.");
        }

        var text = info.Metadata.GetPngMetadata().TextData.FirstOrDefault(t => t.Keyword == PngKeyword).Value;
        if (string.IsNullOrEmpty(text) && info.Metadata.ExifProfile?.GetValue(ExifTag.ImageDescription) is { } description)
        {
            text = description.Value;
        }

        return string.IsNullOrEmpty(text)
            ? throw new InvalidDataException($"The image carries no Muse parameters (no '{PngKeyword}' text chunk).")
            : FromJson(text);
    }

    /// <summary>A 1-image request that regenerates the image: every setting explicit, every model version pinned.</summary>
    public GenerateRequest ToRequest()
    {
        var request = new GenerateRequest
        {
            Prompt = Prompt,
            NegativePrompt = NegativePrompt,
            Seed = Seed,
            Pipeline = Pipeline,
            Decoding = new DecodingOptions
            {
                BaseSteps = BaseSteps,
                SrSteps = SrSteps,
                GuidanceScale = GuidanceScale,
                GuidanceSchedule = GuidanceSchedule == "linear" ? Protos.V1.GuidanceSchedule.Linear : Protos.V1.GuidanceSchedule.Constant,
                SamplingTemperature = SamplingTemperature,
                // Images written before the SR stage had its own temperature sampled it at the base's.
                SrSamplingTemperature = SrSamplingTemperature ?? SamplingTemperature,
                ChoiceTemperature = ChoiceTemperature,
                // Explicit either way: a pipeline that turns it on must not add it to an image decoded without it.
                Recompete = Recompete,
                SrRecompete = SrRecompete,
            },
            NumImages = 1,
        };
        request.Models.AddRange(Models.Select(m => new StageModel { Stage = m.Stage, Name = m.Name, Version = m.Version }));
        return request;
    }
}

/// <summary>The model version one stage ran.</summary>
/// <param name="Stage">"text_encoder", "base", "sr" or "image_tokenizer".</param>
/// <param name="Name">Model name.</param>
/// <param name="Version">Model version.</param>
public sealed record ModelVersion(string Stage, string Name, string Version);
